"""playbooks/uninstall.yml on the ephemeral hub while a visitor's server runs (runs last)."""

import re

import pytest
from ephemeral import unit, visitor_with_server
from ujh_testlib import BASE, UNINSTALL, host_changes_since_first_converge, recap, run_site

pytestmark = pytest.mark.last

BACKUPS = "/var/backups/jupyterhub"  # hub_backup_dir's default: the backup this test asks for
# Everywhere the collection or the servers it starts write (base directory, units, drop-ins,
# sudoers, tmpfiles, CA files, temporary homes, backups). What appears elsewhere was made by
# the OS packages the uninstall leaves on purpose (README, "Uninstall") and is only listed.
OURS = re.compile(r"^(/etc/|/opt/|/srv/|/home/|/usr/local/|/var/lib/|/var/backups/)")
ALLOWED = [
    "/var/lib/private",  # systemd's parent of DynamicUser state directories, kept by systemd
    "/etc/networks",  # netbase's maintainer script (a package the roles' packages pull in)
    "/srv/git",  # the test's own git repository (test_browser.py's nbgitpuller source)
    "/var/lib/systemd/",  # systemd's own state (package maintainer scripts, timers)
    BACKUPS,  # the backup this test asks for
]


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

    again = run_site("-e", "hub_uninstall_backup=true", playbook=UNINSTALL)
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert recap(again)["changed"] == 0, again.stdout[-4000:]

    changes = host_changes_since_first_converge(hub_host_name)
    for section, (added, gone) in changes.items():
        print(f"\n[uninstall] {section}: {len(added)} added, {len(gone)} gone")
        for line in added if section != "files" else [f for f in added if not f.startswith("/srv/git/")]:
            print(f"  + {line}")
        for line in gone:
            print(f"  - {line}")
    files_added, files_gone = changes["files"]
    left = [f for f in files_added if OURS.match(f + "/") and not any(f.startswith(a) for a in ALLOWED)]
    assert not left, left
    assert not files_gone, files_gone
    assert not host.file(BASE).exists
    for section in ("users", "groups", "unit files"):
        assert changes[section] == ([], []), (section, changes[section])
    assert not [u for u in changes["units"][0] if "jupyter" in u], changes["units"]
    # Only the commands of this test and of Ansible's connection may be new.
    new_processes = [p for p in changes["processes"][0]
                     if p.split()[1] not in ("bash", "sh", "ps", "sort", "awk", "sshd", "python3", "sleep")]
    assert not new_processes, new_processes
    print(f"\n[uninstall] OS packages left: {' '.join(changes['packages'][0])}")
