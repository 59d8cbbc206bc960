"""The hub's record of what the roles asked for, and what root may remove from it
(plugins/filter/hub_records.py)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "plugins" / "filter"))
from hub_records import hub_record_packages, hub_record_paths, hub_records  # noqa: E402

BASE = "/opt/jupyterhub"


def test_contributions_are_recorded_as_kind_and_path_and_packages_by_name():
    records = hub_records([
        {"kind": "fragment", "path": f"{BASE}/config.d/40-slurm-spawner.py", "content": "x"},
        {"kind": "hub_package", "path": "batchspawner==1.3.0"},
        {"kind": "hub_package", "path": "jupyterhub-systemdspawner[extra]>=1.0 ; python_version>'3'"},
        {"kind": "directory", "path": f"{BASE}/user-env"},
        {"kind": "file", "path": "/etc/sudoers.d/jupyterhub"},
    ])
    assert records == [f"fragment:{BASE}/config.d/40-slurm-spawner.py", "hub_package:batchspawner",
                       "hub_package:jupyterhub-systemdspawner", f"directory:{BASE}/user-env",
                       "file:/etc/sudoers.d/jupyterhub"]
    assert hub_record_packages(records) == ["batchspawner", "jupyterhub-systemdspawner"]
    assert hub_record_paths(records, [BASE, "/etc"]) == [
        f"{BASE}/config.d/40-slurm-spawner.py", f"{BASE}/user-env", "/etc/sudoers.d/jupyterhub"]
    assert hub_record_paths(records, ["/etc"]) == ["/etc/sudoers.d/jupyterhub"]


def test_a_record_never_makes_root_remove_anything_outside_its_roots():
    hostile = [
        "file:/etc/../root/.ssh/authorized_keys",  # '..' out of /etc
        f"file:{BASE}/../../home/alice",
        "file:/etc",  # the root itself
        f"directory:{BASE}",
        f"file:{BASE}x/evil",  # a sibling whose name starts like the base directory
        "file:/etc/cron.d/a b",  # whitespace: a second word for anything that splits
        "file:/etc/cron.d/x\n/root",
        "file:/etc/x\x00y",
        "file:relative/path",
        "file:/etc//sudoers.d/x",  # not normalized
        "file:/etc/sudoers.d/",
        "no-kind-here",
        "hub_package:/etc/passwd",  # a package record is never a path
        "",
    ]
    assert hub_record_paths(hostile, [BASE, "/etc"]) == []
    assert hub_record_paths(["file:/etc/x"], ["/", "", "etc"]) == []  # no root, no relative root


def test_only_package_records_name_packages():
    assert hub_record_packages(["file:/etc/x", "hub_package:", "hub_package:batchspawner", "junk"]) == ["batchspawner"]


def test_a_package_the_hubs_own_lock_pins_is_never_stale():
    """jupyterhub-systemdspawner is in the hub's lock: a hub that moves from SystemdSpawner to
    SlurmSpawner keeps it (removing it would make the next converge install it again)."""
    lock = (ROOT / "roles" / "hub" / "files" / "requirements.txt").read_text()
    records = ["hub_package:jupyterhub-systemdspawner", "hub_package:batchspawner", "hub_package:Jupyterhub_SystemdSpawner"]
    assert hub_record_packages(records, lock=lock) == ["batchspawner"]
    assert hub_record_packages(records) == ["jupyterhub-systemdspawner", "batchspawner", "Jupyterhub_SystemdSpawner"]
