"""The warm pool's decisions and configuration (unopinionated_jupyterhub_warm_pool.py).

The keeper's talk with a real hub (a visitor handed a server started before they came,
the refill, a stopped member replaced, the pool kept over a hub restart) is the
ephemeral scenario's (molecule/ephemeral/tests/test_warm_pool.py)."""

import datetime

from jupyterhub import scopes
from jupyterhub.app import JupyterHub
from traitlets.config import Config

from unopinionated_jupyterhub_warm_pool import GROUP, SCOPES, SERVICE, configure, parse_time, plan, token_of

NOW = datetime.datetime(2026, 12, 5, 12, 0, tzinfo=datetime.timezone.utc)


def server(ready=True, pending=None, age=10):
    started = (NOW - datetime.timedelta(seconds=age)).isoformat().replace("+00:00", "Z")
    return {"ready": ready, "pending": pending, "started": started}


def decide(size=3, members=(), servers=None, starting=False, max_age=3600):
    return plan(size, set(members), servers or {}, starting, NOW, max_age)


def test_an_empty_pool_starts_two_servers_at_a_time():
    first = decide(members=[])
    assert (first.create, first.ready, first.retire) == (2, [], [])
    # one member starting: one more start; two starting: none until one is ready
    starting = decide(members=["a"], servers={"a": server(ready=False, pending="spawn")})
    assert (starting.create, starting.ready) == (1, [])
    pending = server(ready=False, pending="spawn")
    assert decide(members=["a", "b"], servers={"a": pending, "b": pending}).create == 0
    ready = decide(members=["a", "b"], servers={"a": server(), "b": pending})
    assert (ready.create, ready.ready) == (1, ["a"])
    assert decide(size=1, members=[]).create == 1  # never beyond the size


def test_a_full_pool_starts_nothing_and_hands_out_the_oldest_first():
    full = decide(members=["a", "b", "c"], servers={"a": server(age=5), "b": server(age=50), "c": server(age=20)})
    assert full.create == 0
    assert full.ready == ["b", "c", "a"]
    assert full.retire == []


def test_no_refill_while_a_visitors_server_is_starting():
    assert decide(members=["a"], servers={"a": server()}, starting=True).create == 0


def test_members_whose_server_stopped_or_waited_too_long_are_retired():
    decided = decide(members=["gone", "old", "fresh"],
                     servers={"old": server(age=3601), "fresh": server(age=3599)})
    assert sorted(decided.retire) == ["gone", "old"]
    assert decided.ready == ["fresh"]
    assert decided.create == 2  # 1 of 3 kept


def test_a_starting_member_is_not_retired_for_its_age():
    decided = decide(size=1, members=["a"], servers={"a": server(ready=False, pending="spawn", age=9999)})
    assert decided.retire == []


def test_a_smaller_pool_retires_the_members_beyond_its_size_starting_ones_first():
    servers = {"a": server(age=30), "b": server(age=20), "c": server(ready=False, pending="spawn")}
    decided = decide(size=1, members=["a", "b", "c"], servers=servers)
    assert sorted(decided.retire) == ["b", "c"]
    assert decided.ready == ["a"]
    assert decided.create == 0
    assert sorted(decide(size=0, members=["a", "b", "c"], servers=servers).retire) == ["a", "b", "c"]


def test_jupyterhub_times_are_read_with_their_zone():
    assert parse_time("2026-12-05T11:59:50.123456Z") == NOW - datetime.timedelta(seconds=9.876544)
    assert parse_time(None) is None


def test_configure_adds_the_group_a_fresh_token_and_scopes_jupyterhub_accepts():
    c = Config()
    c.JupyterHub.load_groups = {"teachers": {"users": ["ada"]}}
    c.JupyterHub.services = [{"name": "other", "api_token": "x" * 32}]
    configure(c)
    app = JupyterHub(config=c)
    assert app.load_groups == {"teachers": {"users": ["ada"]}, GROUP: {}}  # nobody is added to the pool
    token = token_of(app.services)
    assert len(token) == 64 and token != "x" * 32
    (role,) = [r for r in app.load_roles if r["name"] == SERVICE]
    assert role["services"] == [SERVICE] and role["scopes"] == SCOPES
    scopes._check_scopes_exist(SCOPES)  # raises on an unknown scope or filter
    other = Config()
    configure(other)
    assert token_of(JupyterHub(config=other).services) != token  # one per hub start


def test_the_keeper_cannot_touch_other_groups_or_other_users_servers():
    expanded = scopes.expand_scopes(SCOPES)
    for scope in ("admin:groups", "admin:servers", "servers", "groups", "read:groups", "tokens", "admin-ui"):
        assert scope not in expanded, scope
    assert f"servers!group={GROUP}" in expanded
