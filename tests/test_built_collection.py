"""The built collection, installed as the README tells a site to install it.

Builds the tarball, checks what it holds, runs the README's site-repository
commands in a temporary site repository (the last one as --syntax-check: there is
no host), and asks ansible-doc for every role. Only the site's ansible.cfg tells
Ansible where the collection is: the test bed's collection path is not passed on.
"""

import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
VERSION = next(line.split(":", 1)[1].strip() for line in (REPO / "galaxy.yml").read_text().splitlines()
               if line.startswith("version:"))
TARBALL = f"unopinionated-jupyterhub-{VERSION}.tar.gz"
# The README's site-repository commands, as written there (cd lines aside).
SITE_COMMANDS = [
    "printf '[defaults]\\ncollections_path = ./collections\\n[ssh_connection]\\npipelining = True\\n' > ansible.cfg",
    f"ansible-galaxy collection install /tmp/{TARBALL} -p ./collections",
    "mkdir -p inventories && cp -r collections/ansible_collections/unopinionated/jupyterhub/inventories/example"
    " inventories/production",
    "ansible-playbook -i inventories/production unopinionated.jupyterhub.site",
]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("build")
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(out), str(REPO)],
                   check=True, capture_output=True, text=True)
    return out / TARBALL


@pytest.fixture(scope="module")
def site_env(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(HOME=str(home), ANSIBLE_NOCOLOR="1")
    return env


def test_the_tarball_holds_the_collection_and_none_of_the_test_bed(built):
    with tarfile.open(built) as tar:
        names = set(tar.getnames())
    tops = {name.split("/", 1)[0] for name in names}
    assert "LICENSE" in names and "README.md" in names and "playbooks/site.yml" in names
    for role in ("_common", "hub", "proxy", "culler", "slurm_spawner", "systemd_spawner"):
        assert f"roles/{role}/meta/argument_specs.yml" in names
    assert "inventories/example/hosts.yml" in names
    for unwanted in ("tests", "molecule", "testbed", "bench", "tools", ".ci", ".config", ".venv", ".cache",
                     "requirements-dev.txt", ".git"):
        assert unwanted not in tops, unwanted
    assert not any(name.startswith(("inventories/demo", "changelogs/fragments")) for name in names)


def test_the_readmes_site_commands_work_as_written(built, site_env, tmp_path):
    for command in SITE_COMMANDS:
        assert command in README, f"README no longer says: {command}"
    site = tmp_path / "my-site"
    site.mkdir()
    # The README builds into /tmp; here the tarball comes from this test's build.
    commands = [c.replace(f"/tmp/{TARBALL}", str(built)) for c in SITE_COMMANDS]
    commands[-1] += " --syntax-check"
    for command in commands:
        result = subprocess.run(["bash", "-c", command], cwd=site, env=site_env, capture_output=True, text=True,
                                check=False)
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{command}\n{output}"
        assert "WARNING" not in output, f"{command}\n{output}"
    installed = site / "collections" / "ansible_collections" / "unopinionated" / "jupyterhub"
    assert (installed / "MANIFEST.json").is_file()


def test_ansible_doc_documents_every_role_of_the_installed_collection(built, site_env, tmp_path):
    subprocess.run(["bash", "-c", " && ".join(SITE_COMMANDS[:2]).replace(f"/tmp/{TARBALL}", str(built))],
                   cwd=tmp_path, env=site_env, check=True, capture_output=True)
    roles = sorted(p.name for p in (REPO / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
    assert len(roles) == 6
    for role in roles:
        result = subprocess.run(["ansible-doc", "-t", "role", f"unopinionated.jupyterhub.{role}"],
                                cwd=tmp_path, env=site_env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert re.search(r"ENTRY POINT: \*?main\*?", result.stdout), f"{role}: {result.stdout[:500]}"
        assert "Options" in result.stdout and "default:" in result.stdout, f"{role}: {result.stdout[:500]}"


def test_ansible_doc_documents_the_collections_modules(built, site_env, tmp_path):
    subprocess.run(["bash", "-c", " && ".join(SITE_COMMANDS[:2]).replace(f"/tmp/{TARBALL}", str(built))],
                   cwd=tmp_path, env=site_env, check=True, capture_output=True)
    modules = sorted(p.stem for p in (REPO / "plugins" / "modules").glob("*.py"))
    assert modules == ["check_variables", "files", "hub_lifecycle", "look", "pam_service", "require", "venv_install"]
    for module in modules:
        result = subprocess.run(["ansible-doc", f"unopinionated.jupyterhub.{module}"],
                                cwd=tmp_path, env=site_env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr
        assert "OPTIONS" in result.stdout or "Options" in result.stdout, result.stdout[:500]
