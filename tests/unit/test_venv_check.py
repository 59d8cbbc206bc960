"""venv_check.py: the collection's one reader of the lock grammar, and the check the roles
run with each environment's own interpreter (roles/_common/files/venv_check.py)."""

import io
import json
import subprocess
import sys
from contextlib import redirect_stdout
from importlib import metadata
from pathlib import Path

import venv_check

SCRIPT = Path(venv_check.__file__)
H1, H2 = "--hash=sha256:" + "1" * 64, "--hash=sha256:" + "2" * 64
PYTEST = metadata.version("pytest")


def test_the_grammar_reads_locks_as_pip_does():
    text = f"""# a comment, then an entry split over lines
Jupyter_Hub[extra]==6.1.1 \\
    {H1} \\
    --hash sha256:{"2" * 64}   # trailing comment
old-thing==1.0 ; python_version < "3"
  name-with-spaces  ==  2.0
not a pin at all
-r other.txt

"""
    lines = list(venv_check.logical_lines(text.splitlines()))
    assert lines == [f"Jupyter_Hub[extra]==6.1.1 {H1} --hash sha256:{'2' * 64}",
                     'old-thing==1.0 ; python_version < "3"', "name-with-spaces == 2.0",
                     "not a pin at all", "-r other.txt"]
    pins = venv_check.pins(text)
    assert pins["jupyter-hub"] == ("6.1.1", [H1, f"--hash sha256:{'2' * 64}"])
    assert pins["old-thing"] == ("1.0", []) and pins["name-with-spaces"] == ("2.0", [])
    assert set(pins) == {"jupyter-hub", "old-thing", "name-with-spaces"}


def test_hostile_lines_are_not_pins_and_reach_pip_as_they_are():
    hostile = ["evil==1.0`touch /tmp/x`", "evil==$(id)", "{{ lookup('pipe', 'id') }}==1", "evil==%2e%2e",
               "ev'il==1", "evil==1.0 extra words", "evil==1.0;"]
    invalid_marker = 'evil==1.0 ; python_version <<< "3"'
    for line in hostile:
        assert venv_check.pins(line) == {}, line
    # nothing is evaluated: each is missing as written, and pip refuses it with its own message
    assert json.loads(check("\n".join(hostile)))["missing"] == hostile
    assert json.loads(check(invalid_marker))["missing"] == [invalid_marker]
    # a newline ends an entry: a second line is a second entry, never part of the first's version
    assert venv_check.pins("a==1\nb==2") == {"a": ("1", []), "b": ("2", [])}


def check(lock, argv=("pth content",)):
    out = io.StringIO()
    with redirect_stdout(out):
        venv_check.main(list(argv), io.StringIO(lock))
    return out.getvalue()


def test_only_what_this_environment_lacks_is_missing():
    lock = f"""pytest=={PYTEST} {H1}
pytest==0.0.1 {H2}
surely-not-installed-here==1.0
never-on-this-python==9 ; python_version < "3"
-e git+https://example.org/x
"""
    answer = json.loads(check(lock))
    assert answer["missing"] == [f"pytest==0.0.1 {H2}", "surely-not-installed-here==1.0",
                                 "-e git+https://example.org/x"]
    assert answer["pth"].endswith("/unopinionated_jupyterhub.pth") and answer["pth_ok"] is False


def test_the_installed_set_as_a_lock_keeps_the_hashes_of_the_pins_it_matches():
    lock = check(f"pytest=={PYTEST} {H1}\nrequests==0.0.1 {H2}\n", argv=["--lock"])
    pins = venv_check.pins(lock)
    assert pins["pytest"] == (PYTEST, [H1])
    assert pins["requests"][0] == metadata.version("requests") and pins["requests"][1] == []
    assert "pip" not in pins and "setuptools" not in pins


def test_run_as_the_roles_run_it_with_python_c():
    result = subprocess.run([sys.executable, "-I", "-c", SCRIPT.read_text(), "x"], input=f"pytest=={PYTEST}\n",
                            capture_output=True, text=True, check=True, timeout=60)
    assert json.loads(result.stdout)["missing"] == []
    imported = subprocess.run([sys.executable, "-c", f"import runpy; runpy.run_path({str(SCRIPT)!r}, run_name='x')"],
                              capture_output=True, text=True, check=True, timeout=60)
    assert imported.stdout == ""  # importing it runs nothing


def test_whether_a_venv_sees_the_systems_packages_is_read_from_its_pyvenv_cfg(tmp_path):
    assert venv_check.system_site_packages(str(tmp_path)) is False  # no pyvenv.cfg: not a venv
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\ninclude-system-site-packages = false\n")
    assert venv_check.system_site_packages(str(tmp_path)) is False
    (tmp_path / "pyvenv.cfg").write_text("home = /usr/bin\nInclude-System-Site-Packages=True\nversion = 3.11.2\n")
    assert venv_check.system_site_packages(str(tmp_path)) is True


def test_a_converged_environment_is_read_from_its_directory_names_alone(tmp_path):
    """The metadata of every distribution (importlib.metadata: 0.1 s for a users' environment) is read
    only where the names of the .dist-info directories do not show every pin."""
    site = tmp_path / "site"
    (site / "plain_pkg-1.0.dist-info").mkdir(parents=True)
    (site / "plain_pkg-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: plain-pkg\nVersion: 1.0\n")
    # A directory named otherwise than its metadata: the name says 2.0, the metadata too, and 2.0 is pinned.
    (site / "Odd.Name-2.0.dist-info").mkdir()
    (site / "Odd.Name-2.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: odd-name\nVersion: 2.0\n")
    (site / "legacy-3.0-py3.11.egg-info").mkdir()
    (site / "legacy-3.0-py3.11.egg-info" / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: legacy\nVersion: 3.0\n")

    def run(lock):
        code = f"import sys; sys.path.insert(0, {str(site)!r}); exec(compile(open({str(SCRIPT)!r}).read(), 'v', 'exec'))"
        result = subprocess.run([sys.executable, "-I", "-X", "importtime", "-c", code, "x"], input=lock,
                                capture_output=True, text=True, check=True, timeout=60)
        return json.loads(result.stdout)["missing"], "importlib.metadata" in result.stderr

    assert run("plain-pkg==1.0\nodd.name==2.0\n") == ([], False)
    assert run("plain_pkg==1.0\nlegacy==3.0\n") == ([], True)  # an egg-info: the metadata says it is there
    assert run("plain-pkg==1.1\n") == (["plain-pkg==1.1"], True)
