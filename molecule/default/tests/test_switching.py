"""Switching a converged host: root and non-root hub, a spawner role on and off,
and a re-run that repairs files broken by hand. Users stay logged in throughout.

Runs last in this scenario (file order): it changes the hub's user and spawner,
and ends with the host converged to the scenario's own settings again.
On Debian 13 only the switch to the systemd spawner and back runs (it converges that
role on the release); the others, marked `once`, prove logic that no release changes.
"""

import json

import pytest

from ujh_testlib import BASE, CONFIG_D, DROPIN_DIR, STATE, api, converge, login, unit_pid, wait_until

USER = "switcher"
SYSTEMD_SPAWNER = {
    "jupyterhub_spawner_role": "systemd_spawner",
    "hub_run_as_root": True,
    "systemd_spawner_shared_password": "switch-test-password",
    "systemd_spawner_mem_limit": "1G",
}
# Everything the systemd_spawner role adds to a host.
SYSTEMD_SPAWNER_PATHS = [
    f"{CONFIG_D}/45-systemd-spawner.py",
    f"{BASE}/unopinionated_jupyterhub_systemd.py",
    f"{CONFIG_D}/30-temporary-users.py",
    f"{DROPIN_DIR}/systemd-spawner.conf",
    "/etc/tmpfiles.d/jupyterhub-temporary-users.conf",
    f"{STATE}/shared_password",
    f"{BASE}/templates",
    f"{BASE}/user-env",
]


@pytest.fixture(scope="module")
def session(hub_url):
    return login(hub_url, USER)


def hub_is_healthy(host):
    return host.run("curl -sf http://127.0.0.1:8081/hub/health").rc == 0


def assert_healthy_and_still_logged_in(host, hub_url, session):
    assert hub_is_healthy(host)
    r = api(session, hub_url, "GET", "/user")
    assert r.status_code == 200 and r.json()["name"] == USER, (r.status_code, r.text[:300])


def hub_process_user(host):
    return host.check_output(f"ps -o user= -p {unit_pid(host, 'jupyterhub.service')}")


def state_owners(host):
    return set(host.check_output(f"find {STATE} -printf '%u:%g\\n'").split())


@pytest.mark.once
def test_the_hub_runs_as_root_when_asked_on_the_command_line(host, hub_url, session):
    # Back to "false" (a string from the command line, which must mean false) at the end:
    # test_switching_the_spawner_off_leaves_nothing_of_it.
    converge("-e", "hub_run_as_root=true")
    assert hub_process_user(host) == "root"
    assert state_owners(host) == {"root:root"}
    assert_healthy_and_still_logged_in(host, hub_url, session)


def test_switching_to_the_systemd_spawner_brings_its_files(host, hub_url, session):
    converge("-e", json.dumps(SYSTEMD_SPAWNER))
    for path in SYSTEMD_SPAWNER_PATHS:
        assert host.file(path).exists, path
    assert hub_process_user(host) == "root"
    assert host.run(f"{BASE}/env/bin/pip show jupyterhub-systemdspawner").rc == 0
    assert_healthy_and_still_logged_in(host, hub_url, session)


@pytest.mark.once
def test_a_rerun_repairs_a_hand_broken_fragment_and_drop_in(host, hub_url, session):
    fragment = f"{CONFIG_D}/45-systemd-spawner.py"
    dropin = f"{DROPIN_DIR}/systemd-spawner.conf"
    before = host.check_output(f"sha256sum {fragment} {dropin}")
    host.run_expect([0], f"echo 'raise SystemExit(\"broken by hand\")' >> {fragment}")
    host.run_expect([0], f"printf '[Service]\\nExecStartPre=/bin/false\\n' >> {dropin}")
    host.run("systemctl daemon-reload && systemctl restart jupyterhub.service")
    wait_until(lambda: not hub_is_healthy(host), timeout=60, what="the hub to fail")

    converge("-e", json.dumps(SYSTEMD_SPAWNER))
    assert host.check_output(f"sha256sum {fragment} {dropin}") == before
    wait_until(lambda: hub_is_healthy(host), timeout=60, what="the repaired hub")
    assert_healthy_and_still_logged_in(host, hub_url, session)


@pytest.mark.once
def test_a_user_name_that_is_not_one_safe_word_for_systemd_starts_no_unit(host, hub_url):
    # Issue 25: without temporary users, the name a site's authenticator lets in reaches
    # root's systemd-run as a unit name and as words of ExecStopPost ("rm -rf ... a b").
    converge("-e", json.dumps(dict(SYSTEMD_SPAWNER, systemd_spawner_temporary_users=False)))
    since = host.check_output("date +%s")
    spaced = login(hub_url, "a b")  # the scenario's own authenticator again: any name
    r = api(spaced, hub_url, "POST", "/users/a%20b/server")
    assert r.status_code >= 400 or r.status_code == 202, (r.status_code, r.text[:300])
    wait_until(lambda: "cannot have a server" in host.check_output(
        f"journalctl -u jupyterhub.service --since @{since} -o cat"), timeout=60, what="the hub to refuse 'a b'")
    assert api(spaced, hub_url, "GET", "/users/a%20b").json()["servers"].get("", {}).get("ready") is not True
    assert host.check_output("systemctl list-units --all --no-legend 'jupyter-*'") == ""


def test_switching_the_spawner_off_leaves_nothing_of_it(host, hub_url, session):
    # The scenario's inventory: no spawner role, a non-root hub. "false" from the command
    # line is a string: it must mean false (the hub ran as root since the switch above).
    converge("-e", "hub_run_as_root=false")
    for path in SYSTEMD_SPAWNER_PATHS:
        assert not host.file(path).exists, path
    # The package is pinned in the hub environment's own lock: it stays (removing it would make the
    # next converge install it again); nothing configures it any more (the paths above).
    assert host.run(f"{BASE}/env/bin/pip show jupyterhub-systemdspawner").rc == 0
    assert hub_process_user(host) == "jupyterhub"
    assert state_owners(host) == {"jupyterhub:jupyterhub"}
    assert_healthy_and_still_logged_in(host, hub_url, session)
