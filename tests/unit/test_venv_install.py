"""plugins/modules/venv_install.py: the pip runs it makes, pyvenv.cfg's setting, and real installs
of a wheel built here into a real venv (no index: --no-index --find-links), in the foreground and
in the background through _common's venv_wait.yml."""

import base64
import hashlib
import json
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from conftest import run_playbook

from ansible_collections.unopinionated.jupyterhub.plugins.modules import venv_install


def test_hashed_pins_come_first_in_hash_checking_mode_and_nothing_compiles_on_one_core():
    commands = venv_install.pip_commands("/e/bin/python", "/tmp/lock.txt", ["x==1"], ["--no-index", "--find-links=/w"])
    assert commands == [
        ["/e/bin/python", "-m", "pip", "install", "--no-compile", "--disable-pip-version-check", "--no-index",
         "--find-links=/w", "--require-hashes", "-r", "/tmp/lock.txt"],
        ["/e/bin/python", "-m", "pip", "install", "--no-compile", "--disable-pip-version-check", "--no-index",
         "--find-links=/w", "--", "x==1"],
    ]
    assert venv_install.pip_commands("/e/bin/python", None, [], []) == []


def test_a_spec_that_looks_like_an_option_stays_a_requirement():
    # An unhashed spec (hub_pip_extra_requirements is the site's text) never becomes a pip option.
    (only,) = venv_install.pip_commands("/e/bin/python", None, ["--index-url=http://evil/", "-e ."], [])
    assert only[only.index("--") + 1:] == ["--index-url=http://evil/", "-e ."]


def test_pyvenv_cfg_setting_replaces_any_spelling_and_keeps_the_rest():
    text = "home = /usr/bin\ninclude-system-site-packages=false\nversion = 3.11.2\n"
    assert venv_install.with_system_site_packages(text) == (
        "home = /usr/bin\nversion = 3.11.2\ninclude-system-site-packages = true\n")
    assert venv_install.with_system_site_packages("home = /usr/bin").endswith("include-system-site-packages = true\n")


def test_the_pth_file_replaces_a_link_planted_where_it_goes_and_writes_only_what_differs(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("keep\n")
    pth = tmp_path / venv_install.PTH_NAME
    pth.symlink_to(target)
    venv_install.settle_text(str(pth), "import sys\n")
    assert not pth.is_symlink() and pth.read_text() == "import sys\n" and target.read_text() == "keep\n"
    assert oct(pth.stat().st_mode & 0o777) == "0o644"
    before = pth.stat().st_ino
    venv_install.settle_text(str(pth), "import sys\n")
    assert pth.stat().st_ino == before  # the same text: not written again


def wheel(directory, name="ujh_tiny", version="1.0", extra=None, requires=()):
    """A minimal pure-Python wheel (extra: more members; requires: its Requires-Dist), and its pin with
    the wheel's sha256."""
    path = directory / f"{name}-{version}-py3-none-any.whl"
    requirements = "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {**(extra or {}), f"{name}/__init__.py": "VALUE = 'tiny'\n",
             f"{name}-{version}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n{requirements}",
             f"{name}-{version}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    with zipfile.ZipFile(path, "w") as archive:
        for member, text in files.items():
            info = zipfile.ZipInfo(member)
            info.external_attr = (0o100755 if ".data/scripts/" in member else 0o100644) << 16
            archive.writestr(info, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{member},sha256={digest},{len(text)}")
        record.append(f"{name}-{version}.dist-info/RECORD,,")
        archive.writestr(f"{name}-{version}.dist-info/RECORD", "\n".join(record) + "\n")
    return f"{name}=={version} --hash=sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}"


@pytest.fixture
def wheelhouse(tmp_path):
    """A directory holding one wheel built here, and that wheel's hashed pin."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    return wheels, wheel(wheels)


def install(env, pin, wheels):
    """The first lines of a venv_install task of one hashed pin from the wheelhouse (more may follow),
    indented as the tests' task lists are."""
    return (f"        - unopinionated.jupyterhub.venv_install:\n"
            f"            dir: {env}\n"
            f"            python: {sys.executable}\n"
            f"            hashed: {json.dumps([pin])}\n"
            f"            pip_args: [--no-index, --find-links={wheels}]\n")


def play(tmp_path, tasks):
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n" + textwrap.indent(textwrap.dedent(tasks), "    "))
    return run_playbook(playbook, "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}")


def test_a_new_venv_gets_the_pins_their_bytecode_the_pth_and_the_system_site_packages(tmp_path, wheelhouse):
    wheels, pin = wheelhouse
    env = tmp_path / "env"
    result = play(tmp_path, install(env, pin, wheels) + f"""\
            pth: "import sys\\n"
            system_site_packages: true
          register: installed
        - ansible.builtin.copy:
            content: "{{{{ installed | to_json }}}}"
            dest: {tmp_path}/result.json
            mode: "0600"
        """)
    assert result.returncode == 0, result.stdout[-3000:]
    found = json.loads((tmp_path / "result.json").read_text())
    assert found["changed"] and found["created"]
    purelib = found["purelib"]
    assert (env / "bin" / "python").exists() and purelib.startswith(str(env))
    assert list((tmp_path / "env").glob("lib/python3*/site-packages/ujh_tiny/__pycache__/__init__.*.pyc"))
    assert (tmp_path / "env" / purelib.split(str(env) + "/", 1)[1] / "unopinionated_jupyterhub.pth").read_text() == "import sys\n"
    assert "include-system-site-packages = true" in (env / "pyvenv.cfg").read_text()


def test_a_wheel_that_does_not_match_its_hash_fails_the_background_install_with_pips_words(tmp_path, wheelhouse):
    wheels, pin = wheelhouse
    pin = pin.rsplit(":", 1)[0] + ":" + "0" * 64
    env = tmp_path / "env"
    result = play(tmp_path, install(env, pin, wheels) + f"""\
          async: 600
          poll: 0
          register: started
        - ansible.builtin.copy:
            content: "{{{{ started.results_file }}}}"
            dest: {tmp_path}/job.txt
            mode: "0600"
        - ansible.builtin.set_fact:
            __jupyterhub_venv_jobs: {{"{env}": "{{{{ started.results_file }}}}"}}
        - ansible.builtin.include_role:
            name: unopinionated.jupyterhub._common
            tasks_from: venv_wait
          vars:
            __jupyterhub_venv: {{dir: "{env}"}}
        """)
    assert result.returncode != 0
    assert f"pip install into {env} failed" in result.stdout
    assert "DO NOT MATCH THE HASHES" in result.stdout
    assert "Remove the result file of the install" in result.stdout  # the job's file goes, failed or not
    job_file = (tmp_path / "job.txt").read_text()
    assert job_file and not Path(job_file).exists()


def test_an_environment_that_is_not_there_and_no_python_is_a_clear_error(tmp_path):
    result = play(tmp_path, f"""\
        - unopinionated.jupyterhub.venv_install:
            dir: {tmp_path}/none
        """)
    assert result.returncode != 0
    assert f"{tmp_path}/none has no bin/python, and no interpreter (python) was given" in result.stdout


def test_uv_runs_hashed_pins_first_and_a_spec_that_looks_like_an_option_stays_a_requirement():
    commands = venv_install.uv_commands("/u/bin/uv", "/e/bin/python", "/tmp/lock.txt",
                                        ["--index-url=http://evil/", "x==1"], ["--no-index", "--find-links=/w"])
    assert commands == [
        ["/u/bin/uv", "pip", "install", "--python", "/e/bin/python", "--no-index", "--find-links=/w",
         "--no-deps", "--require-hashes", "-r", "/tmp/lock.txt"],
        ["/u/bin/uv", "pip", "install", "--python", "/e/bin/python", "--no-index", "--find-links=/w",
         "--", "--index-url=http://evil/", "x==1"],
    ]


def test_uv_pin_version_and_bundled_wheels(tmp_path):
    assert venv_install.uv_pin_version(["# uv", "uv==0.13.9 \\", "--hash=sha256:00"]) == "0.13.9"
    assert venv_install.uv_pin_version(["uvicorn==1.0"]) is None
    bundled = tmp_path / "ensurepip" / "_bundled"
    bundled.mkdir(parents=True)
    for name in ("pip-9.0.1-py3-none-any.whl", "pip-23.0.1-py3-none-any.whl", "setuptools-65.5.0-py3-none-any.whl"):
        (bundled / name).write_text("")
    found = venv_install.bundled_wheel("pip", (3, 99), str(tmp_path))
    assert found in (str(bundled / "pip-23.0.1-py3-none-any.whl"),) or found.startswith("/usr/share/")
    assert venv_install.bundled_wheel("nothing-here", (3, 99), str(tmp_path)) is None


def uv_settings(tmp_path, pin):
    return {"dir": str(tmp_path / "base" / "uv"), "cache": str(tmp_path / "base" / "cache"), "requirements": [pin]}


def uv_task(env, wheels, settings, pins):
    return (f"        - unopinionated.jupyterhub.venv_install:\n"
            f"            dir: {env}\n"
            f"            python: {sys.executable}\n"
            f"            hashed: {json.dumps(pins)}\n"
            f"            pip_args: [--no-index, --find-links={wheels}]\n"
            f"            installer: uv\n"
            f"            uv: {json.dumps(settings)}\n")


def test_uv_is_fetched_in_hash_checking_mode_and_a_new_pin_replaces_it(tmp_path, wheelhouse):
    # A wheel named uv (a script that says its version): the fetch is pip's real run, --target and hashes.
    wheels, tiny = wheelhouse
    pins = {version: wheel(wheels, "uv", version, {f"uv-{version}.data/scripts/uv": f"#!/bin/sh\necho uv {version}\nexit 1\n"})
            for version in ("0.0.1", "0.0.2")}
    settings = uv_settings(tmp_path, pins["0.0.1"].rsplit(":", 1)[0] + ":" + "0" * 64)
    result = play(tmp_path, uv_task(tmp_path / "env", wheels, settings, [tiny]))
    assert result.returncode != 0 and "Fetching uv 0.0.1 into" in result.stdout and "DO NOT MATCH THE HASHES" in result.stdout
    assert not (tmp_path / "base" / "uv").exists() and not list((tmp_path / "base").glob(".uv-*"))
    uv = tmp_path / "base" / "uv" / "bin" / "uv"
    for version in ("0.0.1", "0.0.2"):
        # The fetched "uv" then fails to make the venv: what it fetched is what ran.
        result = play(tmp_path, uv_task(tmp_path / "env", wheels, uv_settings(tmp_path, pins[version]), [tiny]))
        assert result.returncode != 0 and f"Creating the venv {tmp_path}/env failed" in result.stdout, result.stdout[-2000:]
        assert uv.read_text() == f"#!/bin/sh\necho uv {version}\nexit 1\n"
        assert [p.name for p in (tmp_path / "base" / "uv").glob("uv-*.dist-info")] == [f"uv-{version}.dist-info"]
    assert not list((tmp_path / "base").glob(".uv-*"))


def test_uv_makes_a_venv_with_pip_installs_the_pins_and_compiles_them(tmp_path, wheelhouse):
    # The real uv (requirements-dev.txt's pin is the hosts'), put where a fetch would have put it.
    wheels, pin = wheelhouse
    real = Path(sys.executable).parent / "uv"
    if not real.exists():
        pytest.fail(f"{real} is missing: the unit layer installs uv from requirements-dev.txt")
    settings = uv_settings(tmp_path, "uv==0.13.9 --hash=sha256:" + "0" * 64)
    (Path(settings["dir"]) / "uv-0.13.9.dist-info").mkdir(parents=True)
    (Path(settings["dir"]) / "bin").mkdir()
    (Path(settings["dir"]) / "bin" / "uv").symlink_to(real)
    env = tmp_path / "env"
    result = play(tmp_path, uv_task(env, wheels, settings, [pin]) + """\
            pth: "import sys\\n"
          register: installed
        """)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "\nuv = 0.13.9\n" in (env / "pyvenv.cfg").read_text()  # uv made it (pyvenv.cfg names its version)
    assert list(env.glob("lib/python3*/site-packages/ujh_tiny/__pycache__/__init__.*.pyc"))
    assert list(env.glob("lib/python3*/site-packages/unopinionated_jupyterhub.pth"))
    pip = subprocess.run([env / "bin" / "python", "-I", "-m", "pip", "--version"], capture_output=True, text=True, check=False)
    assert pip.returncode == 0, pip.stderr  # python -m pip works in it, as in a venv python -m venv made
    assert list(Path(settings["cache"]).iterdir())  # the cache another environment links from


def test_uv_installs_a_hashed_pin_beside_installed_ones_and_refuses_one_whose_dependency_is_not_pinned(tmp_path, wheelhouse):
    # What a second run asks of an existing environment: a few hashed pins whose dependencies are
    # installed already (uv's hash-checking mode alone would want their hashes too), and one whose
    # dependency is neither installed nor pinned (pip's hash-checking mode refuses it: so does this).
    wheels, tiny = wheelhouse
    real = Path(sys.executable).parent / "uv"
    settings = uv_settings(tmp_path, "uv==0.13.9 --hash=sha256:" + "0" * 64)
    (Path(settings["dir"]) / "uv-0.13.9.dist-info").mkdir(parents=True)
    (Path(settings["dir"]) / "bin").mkdir()
    (Path(settings["dir"]) / "bin" / "uv").symlink_to(real)
    env = tmp_path / "env"
    assert play(tmp_path, uv_task(env, wheels, settings, [tiny])).returncode == 0
    above = wheel(wheels, "ujh_above", "1.0", requires=["ujh_tiny==1.0"])
    result = play(tmp_path, uv_task(env, wheels, settings, [above]))
    assert result.returncode == 0, result.stdout[-3000:]
    orphan = wheel(wheels, "ujh_orphan", "1.0", requires=["ujh_nowhere>=1"])
    result = play(tmp_path, uv_task(env, wheels, settings, [orphan]))
    assert result.returncode != 0
    assert "lack a dependency that is neither installed nor pinned with its hashes" in result.stdout, result.stdout[-3000:]
    assert "ujh-nowhere" in result.stdout or "ujh_nowhere" in result.stdout
