"""The hub on PostgreSQL, then MariaDB, on a database server of its own (hub_db_url)."""

import json
import time
import urllib.parse

import pytest
import testinfra
import yaml

from ujh_testlib import (
    BASE, REPO, api, hub_health_through_traefik, login, recap, run_site, scenario_group_vars, server_status,
    start_server, unit_pid, use_api_token, wait_until,
)

SETTINGS = f"{BASE}/database.json"
ENV = f"{BASE}/env"
HUB = scenario_group_vars()
MARIADB_PASSWORD = yaml.safe_load((REPO / "molecule" / "databases" / "molecule.yml").read_text())[
    "provisioner"]["inventory"]["group_vars"]["database_server"]["test_mariadb_password"]
DRIVERS = yaml.safe_load((REPO / "roles" / "hub" / "defaults" / "main.yml").read_text())
ROTATED = "new/p@ss:w%rd#?"


@pytest.fixture(scope="module")
def db():
    return testinfra.get_host("podman://ujh-db")


def users_in_postgresql(db):
    return db.check_output("runuser -u postgres -- psql -At -d jupyterhub -c 'select name from users'").split()


def users_in_mariadb(db):
    return db.check_output("mariadb -N -B jupyterhub -e 'select name from users'").split()


def installed(host, name):
    return host.run(f"{ENV}/bin/python -I -m pip show -q {name}").rc == 0


def restart_hub_and_wait(host, client, hub_url):
    before = unit_pid(host, "jupyterhub.service")
    host.check_output("systemctl restart jupyterhub.service")
    wait_until(lambda: api(client, hub_url, "GET", "/user").status_code == 200, what="the restarted hub")
    assert unit_pid(host, "jupyterhub.service") != before, "the hub did not restart"


def assert_kept_across_a_restart(host, hub_url, name):
    """A user, their token and their running server outlive a restart of the hub."""
    browser = login(hub_url, name)
    start_server(browser, hub_url, name)
    client = use_api_token(login(hub_url, name), hub_url, name)
    restart_hub_and_wait(host, client, hub_url)
    me = api(client, hub_url, "GET", "/user")
    assert me.status_code == 200 and me.json()["name"] == name, "the token no longer works"
    assert me.json()["servers"][""]["ready"], me.json()
    assert api(browser, hub_url, "GET", "/user").json()["name"] == name, "the user was logged out"
    assert server_status(client, hub_url, name).status_code == 200, "the server is no longer reachable"


def passwords_in(text):
    """Which of the test's passwords (as given, or URL-escaped) appear in text."""
    found = []
    for password in (HUB["hub_db_password"], ROTATED, MARIADB_PASSWORD):
        found += [p for p in {password, urllib.parse.quote(password, safe="")} if p in text]
    return found


def test_the_hub_keeps_users_tokens_and_servers_on_postgresql(host, hub_url, db):
    assert installed(host, DRIVERS["hub_db_postgresql_spec"].split("==")[0])
    assert not host.file(f"{BASE}/state/jupyterhub.sqlite").exists, "the hub made a sqlite database"
    assert_kept_across_a_restart(host, hub_url, "pg-alice")
    assert "pg-alice" in users_in_postgresql(db)


def restarts(host):
    return int(host.check_output("systemctl show -p NRestarts --value jupyterhub.service"))


def test_the_hub_comes_back_with_its_database_after_failing_to_start_without_it(host, hub_url, db):
    # Away for more starts than systemd's default start limit allows (5 in 10 s),
    # which would leave the hub failed for good. Whether a host fails 5 starts
    # within 10 s depends on its speed, so the unit's limit is checked as well.
    assert host.check_output("systemctl show -p StartLimitIntervalUSec --value jupyterhub.service") == "0"
    # The hub stops first: one that loses its database while running takes systemd's
    # whole stop timeout (90 s) to stop (JupyterHub's shutdown waits on the database).
    host.check_output("systemctl stop jupyterhub.service")
    db.check_output("systemctl stop postgresql")
    try:
        start = time.monotonic()
        host.check_output("systemctl start jupyterhub.service")
        before = restarts(host)
        wait_until(lambda: restarts(host) >= before + 6, timeout=180, what="six failed starts of the hub")
        away = time.monotonic() - start
    finally:
        db.check_output("systemctl start postgresql")
    start = time.monotonic()
    wait_until(lambda: hub_health_through_traefik(hub_url) == 200, timeout=120, what="the hub back")
    print(f"\n[database away] 6 failed starts of the hub in {away:.1f} s; "
          f"healthy {time.monotonic() - start:.1f} s after its start returned")
    client = login(hub_url, "pg-alice")
    assert api(client, hub_url, "GET", "/user").json()["servers"][""]["ready"], "pg-alice's server is gone"


def test_the_password_is_private_and_never_logged(host):
    settings = host.file(SETTINGS)
    assert (settings.user, settings.group, settings.mode) == ("root", "jupyterhub", 0o640)
    assert json.loads(settings.content_string)["password"] == HUB["hub_db_password"]
    # Nowhere else in what the collection writes, nor in the journal.
    hits = host.run(f"grep -rlF -e {json.dumps(HUB['hub_db_password'])} {BASE} /etc /var/log /tmp /run").stdout.split()
    assert hits == [SETTINGS], hits
    journal = host.check_output("journalctl --no-pager -o cat")
    assert not passwords_in(journal)


@pytest.mark.last  # changes the password the shared tests converge with
def test_a_wrong_password_changes_nothing_and_a_rotated_one_is_taken(host, hub_url, db):
    before = (host.file(SETTINGS).sha256sum, unit_pid(host, "jupyterhub.service"))
    wrong = run_site("-v", "--diff", "-e", json.dumps({"hub_db_password": "not-the-password"}))
    assert wrong.returncode != 0, wrong.stdout[-3000:]
    output = wrong.stdout + wrong.stderr  # a failed task is reported on stderr
    error = "\n".join(line for line in output.splitlines() if line.startswith("fatal:")) or output[-3000:]
    print(f"\n[wrong password] {error}")
    assert "hub_db_url" in error and "password authentication failed" in error, error
    assert (host.file(SETTINGS).sha256sum, unit_pid(host, "jupyterhub.service")) == before
    assert "not-the-password" not in output

    db.check_output(
        "runuser -u postgres -- psql -v ON_ERROR_STOP=1 -v password=%s -d jupyterhub <<'EOF'\n"
        "ALTER ROLE jupyterhub PASSWORD :'password';\nEOF", ROTATED)
    rotated = run_site("-v", "--diff", "-e", json.dumps({"hub_db_password": ROTATED}))
    assert rotated.returncode == 0, rotated.stdout[-5000:]
    assert not passwords_in(rotated.stdout + rotated.stderr)
    assert unit_pid(host, "jupyterhub.service") != before[1], "the hub did not restart with the new password"
    client = login(hub_url, "pg-alice")
    assert api(client, hub_url, "GET", "/user").json()["servers"][""]["ready"]


@pytest.mark.last
def test_the_hub_moves_to_mariadb(host, hub_url, db):
    url = "mysql+pymysql://jupyterhub@db.ujh.test/jupyterhub"
    result = run_site("-e", json.dumps({"hub_db_url": url, "hub_db_password": MARIADB_PASSWORD}))
    assert result.returncode == 0, result.stdout[-5000:]
    assert not passwords_in(result.stdout + result.stderr)
    assert installed(host, DRIVERS["hub_db_mysql_spec"].split("==")[0])
    assert not installed(host, DRIVERS["hub_db_postgresql_spec"].split("==")[0]), "the unused driver stayed"
    assert_kept_across_a_restart(host, hub_url, "my-bob")
    assert "my-bob" in users_in_mariadb(db)
    print(f"\n[mariadb] {recap(result)}")
