"""Running site.yml again as a site would: fragments, check mode (the table of bad
inputs is the faults scenario's).

These run after test_default.py (pytest keeps file order) because some of them
restart the hub. What they prove is the collection's own logic, the same on every OS
release: marked `once`, they run on Debian 12 only (molecule/conftest.py).
"""

import json
import os
import shutil
from pathlib import Path

import pytest

from ujh_testlib import BASE, STATE, canary_stats, plant_links, recap, run_site, scenario_group_vars, unit_pid, wait_until

pytestmark = pytest.mark.once

FRAGMENTS = scenario_group_vars("default")["hub_config_fragments"]


def managed_files_fingerprint(host):
    """Path, mode, owner, mtime and content hash of every file the roles manage.

    Runtime data the hub itself writes (database, routes, pid) is left out.
    """
    paths = f"{BASE} /etc/systemd/system/jupyterhub.service /etc/systemd/system/jupyterhub-proxy.service"
    return host.check_output(
        f"find {paths} -path '*/env' -prune -o -type f "
        "! -name 'jupyterhub.sqlite*' ! -name 'rules*.yaml' ! -name 'rules-*.json' ! -name jupyterhub.pid "
        "-printf '%p %m %u %T@ ' -exec sha256sum {} \\; | sort | sha256sum"
    )


def test_a_fragment_with_a_syntax_error_is_rejected_and_the_hub_keeps_running(host):
    hub_pid = unit_pid(host, "jupyterhub.service")
    broken = dict(FRAGMENTS, **{"30-broken": "c.JupyterHub.log_level = ('DEBUG'\n"})
    result = run_site("-e", json.dumps({"hub_config_fragments": broken}), "--tags", "hub_configure")
    assert result.returncode != 0
    assert "30-broken.py, line 1" in result.stdout + result.stderr
    assert not host.file(f"{BASE}/config.d/30-broken.py").exists
    assert unit_pid(host, "jupyterhub.service") == hub_pid
    assert host.run("curl -sf http://127.0.0.1:8081/hub/health").rc == 0


def test_fragments_from_the_sites_inventory_are_written_then_removed_with_a_restart(host, tmp_path):
    """Fragment files ({src: ...}, {template: ...}) are found in a site repository's inventory
    directory whatever the working directory; preflight looks where the task looks; and the
    next complete run, without them, removes them and restarts the hub."""
    # A site repository: the inventory with its own files/ and templates/ beside it.
    inventory = tmp_path / "site" / "inventories" / "production"
    shutil.copytree(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent, inventory)
    (inventory / "files").mkdir()
    (inventory / "files" / "40-from-file.py").write_text("c.JupyterHub.shutdown_on_logout = False\n")
    (inventory / "templates").mkdir()
    (inventory / "templates" / "41-from-template.py.j2").write_text(
        'c.JupyterHub.template_vars = {"site_user": "{{ jupyterhub_user }}"}\n'
    )
    fragments = dict(FRAGMENTS, **{
        "40-from-file": {"src": "files/40-from-file.py"},
        "41-from-template": {"template": "templates/41-from-template.py.j2"},
    })
    elsewhere = tmp_path / "elsewhere"  # the working directory holds neither file
    elsewhere.mkdir()

    result = run_site("-e", json.dumps({"hub_config_fragments": fragments}),
                      inventory=inventory / "ansible_inventory.yml", cwd=elsewhere)
    assert result.returncode == 0, result.stdout[-3000:]
    from_file = host.file(f"{BASE}/config.d/40-from-file.py")
    assert "c.JupyterHub.shutdown_on_logout = False" in from_file.content_string
    assert from_file.mode == 0o640 and from_file.user == "root"
    assert '{"site_user": "jupyterhub"}' in host.file(f"{BASE}/config.d/41-from-template.py").content_string
    pid_with_extra = unit_pid(host, "jupyterhub.service")

    # Preflight looks where the task looks: a file missing there stops the play first.
    (inventory / "files" / "40-from-file.py").unlink()
    shutil.copy(inventory / "templates" / "41-from-template.py.j2", elsewhere / "40-from-file.py")
    before = managed_files_fingerprint(host)
    result = run_site("-e", json.dumps({"hub_config_fragments": fragments}),
                      inventory=inventory / "ansible_inventory.yml", cwd=elsewhere)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "hub_config_fragments['40-from-file'] must be the fragment's Python text" in output, output[-2000:]
    assert str(inventory / "files" / "40-from-file.py") in output
    assert recap(result)["changed"] == 0 and managed_files_fingerprint(host) == before

    # A complete run (no --tags) with the scenario's fragments: only that sees every role's
    # part and removes the rest, with one restart of the hub.
    result = run_site()
    assert result.returncode == 0, result.stdout[-3000:]
    for name in ("40-from-file", "41-from-template"):
        assert not host.file(f"{BASE}/config.d/{name}.py").exists
    for name in FRAGMENTS:
        assert host.file(f"{BASE}/config.d/{name}.py").exists
    assert unit_pid(host, "jupyterhub.service") != pid_with_extra, "removing a fragment must restart the hub"
    wait_until(lambda: host.run("curl -sf http://127.0.0.1:8081/hub/health").rc == 0, what="hub health")


def test_root_never_follows_a_link_the_hubs_user_planted(host):
    # Issue 25: the hub's user writes in state/ and routes/; a converge re-owned what
    # links there pointed to (the recursive state task, the route file) and wrote a
    # missing secret through a dangling link, as root.
    plants = {
        f"{STATE}/planted-file": "/root/ujh-canary-file",
        f"{STATE}/planted-dir": "/root/ujh-canary-dir",
        f"{STATE}/planted-shadow": "/etc/shadow",
        f"{BASE}/proxy/routes/planted-passwd": "/etc/passwd",
        # A secret the converge makes when it is missing, and the route file.
        f"{STATE}/jupyterhub_cookie_secret": "/root/ujh-written-through",
        f"{BASE}/proxy/routes/rules.yaml": "/root/ujh-canary-file",
    }
    # Stopped, so the hub does not put its route file back before the converge looks.
    host.check_output("systemctl stop jupyterhub.service")
    before = plant_links(host, plants)
    try:
        result = run_site()
        assert result.returncode == 0, result.stdout[-3000:]
        assert canary_stats(host) == before
        assert not host.file("/root/ujh-written-through").exists
        secret = host.file(f"{STATE}/jupyterhub_cookie_secret")
        assert secret.is_file and not secret.is_symlink and secret.user == "jupyterhub" and secret.mode == 0o600
        # The restarted hub moved the link aside (rules.yaml.corrupt) and wrote its route file.
        wait_until(lambda: not host.file(f"{BASE}/proxy/routes/rules.yaml").is_symlink, timeout=60,
                   what="the hub to write its route file again")
    finally:
        host.run(f"rm -rf {STATE}/planted-* {BASE}/proxy/routes/planted-* {BASE}/proxy/routes/rules.yaml.corrupt "
                 "/root/ujh-canary-*")
        for link in (f"{STATE}/jupyterhub_cookie_secret", f"{BASE}/proxy/routes/rules.yaml"):
            host.run(f"test -L {link} && rm -f {link}")  # after a failure: the hub remakes both
        host.run("systemctl start jupyterhub.service")
        wait_until(lambda: host.run("curl -sf http://127.0.0.1:8081/hub/health").rc == 0, what="hub health")
