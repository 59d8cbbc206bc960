"""playbooks/uninstall.yml on the ephemeral hub while a visitor's server runs (runs last)."""

import pytest
from ephemeral import unit, visitor_with_server
from ujh_testlib import BASE, UNINSTALL, assert_nothing_of_ours_left, recap, run_site

pytestmark = pytest.mark.last

BACKUPS = "/var/backups/jupyterhub"  # hub_backup_dir's default: the backup this test asks for
GIT = "/srv/git"  # the test's own git repository (test_browser.py's nbgitpuller source)


def test_uninstall_stops_the_servers_through_the_hub_and_leaves_nothing(host, hub_url, hub_host_name):
    _, name, _ = visitor_with_server(hub_url)
    assert host.service(unit(name)).is_running
    assert host.file(f"/var/lib/private/{name}").is_directory
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")

    result = run_site("-e", "hub_uninstall_backup=true", playbook=UNINSTALL)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    backups = host.run(f"ls {BACKUPS}").stdout.split()
    assert len(backups) == 1, backups
    for part in ("jupyterhub.sqlite", "files.tar.gz", "hub-env.txt"):
        assert host.file(f"{BACKUPS}/{backups[0]}/{part}").exists, part

    # The hub stopped the server (its spawner's stop), not the slice's safety net.
    hub_log = host.check_output(f"journalctl --since '{since}' -o cat --no-pager _SYSTEMD_UNIT=jupyterhub.service")
    assert "Cleaning up single-user servers" in hub_log, hub_log[-3000:]
    safety_net = result.stdout.split("Stop the servers left in the users' slice]", 1)[1].split("TASK [", 1)[0]
    assert "changed:" not in safety_net and "ok:" not in safety_net, safety_net
    assert host.run(f"systemctl is-active {unit(name)}").stdout.strip() in ("inactive", "unknown")
    assert not host.file(f"/var/lib/private/{name}").exists
    assert host.run("nft list table inet unopinionated_jupyterhub_visitors").rc != 0, "the visitors' firewall stayed"

    again = run_site("-e", "hub_uninstall_backup=true", playbook=UNINSTALL)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert recap(again)["changed"] == 0, again.stdout[-4000:]

    assert_nothing_of_ours_left(hub_host_name, allowed=[GIT, BACKUPS], quiet=[GIT])
    assert not host.file(BASE).exists
