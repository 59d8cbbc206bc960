"""The warm pool (systemd_spawner_warm_pool): servers started ahead of visitors, by the real hub.

The scenario runs without a pool; this module converges with one of two servers, and its last
test with none again (what an earlier pool left is retired). The pool's decisions are unit
tested (tests/unit/test_warm_pool.py); here the keeper meets the hub, systemd and a visitor.
"""

import pytest
from ephemeral import hub_users, service, stop_server, unit, visit
from ujh_testlib import api, converge, server_status, unit_pid, wait_until

SIZE = 2


def members(hub_url):
    r = service(hub_url).get(f"{hub_url}/hub/api/groups/warm-pool", timeout=30)
    r.raise_for_status()
    return set(r.json()["users"])


def ready_members(hub_url):
    """Members of the pool whose server is ready, with the time it started."""
    users = hub_users(hub_url)
    servers = {name: users[name]["servers"].get("") for name in members(hub_url) if name in users}
    return {name: s["started"] for name, s in servers.items() if s and s["ready"]}


def full(hub_url):
    return len(ready_members(hub_url)) == SIZE and len(members(hub_url)) == SIZE


@pytest.fixture(scope="module")
def pool(hub_url):
    converge("-e", f"systemd_spawner_warm_pool={SIZE}")
    wait_until(lambda: full(hub_url), timeout=300, what=f"the pool to have {SIZE} ready servers")


def test_a_visitor_is_handed_a_server_started_before_they_came_and_the_pool_refills(pool, host, hub_url):
    waiting = ready_members(hub_url)
    s, r = visit(hub_url)
    assert r.status_code == 302, r.text[:300]
    name = api(s, hub_url, "GET", "/user").json()["name"]
    assert name in waiting
    assert r.headers["Location"].endswith(f"/user/{name}/"), r.headers["Location"]  # not the spawn page
    assert hub_users(hub_url)[name]["servers"][""]["started"] == waiting[name]  # the same start
    assert name not in members(hub_url)
    # The visitor's own credentials reach the server (JupyterHub's OAuth, as for any visitor).
    r = api(s, hub_url, "POST", f"/users/{name}/tokens", json={"note": "molecule test"})
    assert r.status_code in (200, 201), r.text
    s.headers["Authorization"] = f"token {r.json()['token']}"
    assert server_status(s, hub_url, name).status_code == 200
    # A new server takes the visitor's place, under a name nobody has had.
    wait_until(lambda: full(hub_url), timeout=180, what="the pool to refill")
    assert len(set(ready_members(hub_url)) - set(waiting)) == 1
    stop_server(host, hub_url, name)


def test_a_member_whose_server_stopped_is_replaced(pool, host, hub_url):
    victim = sorted(ready_members(hub_url))[0]
    r = service(hub_url).delete(f"{hub_url}/hub/api/users/{victim}/server", timeout=60)
    assert r.status_code in (202, 204), r.text
    wait_until(lambda: victim not in hub_users(hub_url), timeout=180, what=f"{victim} (stopped) to be deleted")
    wait_until(lambda: full(hub_url), timeout=180, what="the pool to refill")
    assert host.run(f"systemctl is-active {unit(victim)}").stdout.strip() in ("inactive", "failed", "unknown")


def test_a_hub_restart_keeps_the_pool_and_its_servers(pool, host, hub_url):
    waiting = ready_members(hub_url)
    pids = {name: unit_pid(host, unit(name)) for name in waiting}
    host.check_output("systemctl restart jupyterhub")
    wait_until(lambda: service(hub_url).get(f"{hub_url}/hub/health", timeout=10).status_code == 200,
               timeout=120, what="the hub to come back")
    wait_until(lambda: ready_members(hub_url) == waiting, timeout=60, what="the same pool after the restart")
    assert {name: unit_pid(host, unit(name)) for name in waiting} == pids
    s, r = visit(hub_url)
    assert r.status_code == 302
    name = api(s, hub_url, "GET", "/user").json()["name"]
    assert name in waiting
    wait_until(lambda: full(hub_url), timeout=180, what="the pool to refill")
    stop_server(host, hub_url, name)


def test_a_pool_of_zero_retires_what_the_pool_left(hub_url, host, pool):
    left = set(ready_members(hub_url))
    assert len(left) == SIZE
    converge("-e", "systemd_spawner_warm_pool=0")
    wait_until(lambda: not members(hub_url) and not left & set(hub_users(hub_url)), timeout=180,
               what="the pool's members to be deleted")
    for name in left:
        assert host.run(f"systemctl is-active {unit(name)}").stdout.strip() in ("inactive", "failed", "unknown")
