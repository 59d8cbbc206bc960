# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The ephemeral hub's warm pool: servers started ahead of demand, handed out at login.

Written by the systemd_spawner role beside the hub's base configuration (on its
sys.path) when systemd_spawner_warm_pool > 0; unopinionated_jupyterhub_auth's
TemporaryUsersAuthenticator runs the keeper inside the hub process and asks it for a
server at each right password. Unit tests: tests/unit/test_warm_pool.py.

- The pool is the members of the hub group "warm-pool": users with a fresh random name
  whose server the keeper started before any visitor existed. A visitor who enters the
  right password is given one whose server is ready (and it leaves the group); with none
  ready, a brand-new user as without a pool. Nobody ever had the name before: a pool
  user is exactly what a new temporary user would be, started earlier.
- The keeper talks to the hub's own REST API with a token of its service (warm-pool)
  made at each hub start and held in memory only; its role's scopes let it create and
  delete users, and start servers and change membership of that group only.
- Refilled at most two servers at a time, and only while no visitor's server is
  starting: a refill never takes a start slot (systemd_spawner_concurrent_starts) from
  a visitor.
- Culled: a member whose server stopped (the idle culler, a failed start) is deleted;
  so is one that waited longer than max_age (its server's credentials and software
  stay fresh), and any beyond the pool's size.
- A hub restart keeps the pool: the group and the servers outlive it. With size 0
  the keeper still runs: it retires what an earlier, larger pool left.
"""

import asyncio
import datetime
import json
import secrets
import urllib.parse
import uuid
from dataclasses import dataclass, field

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

GROUP = "warm-pool"
SERVICE = "warm-pool"
# What the keeper may do (JupyterHub's scopes): make and delete users, see whose server
# starts, and start servers and change membership of the pool's group only.
SCOPES = [
    "admin:users",
    "list:users",
    "read:servers",
    f"servers!group={GROUP}",
    f"read:groups!group={GROUP}",
    f"groups!group={GROUP}",
]


def configure(c):
    """The pool's group (load_groups only ever adds it), and the keeper's service and role
    with a token made at each hub start (in memory only): JupyterHub configuration c."""
    c.JupyterHub.load_groups.update({GROUP: {}})
    c.JupyterHub.services.append({"name": SERVICE, "api_token": secrets.token_hex(32), "display": False})
    c.JupyterHub.load_roles.append(
        {"name": SERVICE, "description": "Starts servers ahead of visitors (systemd_spawner_warm_pool).",
         "scopes": SCOPES, "services": [SERVICE]}
    )


def token_of(services):
    """The keeper's token, from JupyterHub.services; None when configure() did not run."""
    return next((s["api_token"] for s in services if s.get("name") == SERVICE), None)


def parse_time(text):
    """A JupyterHub ISO 8601 time (with Z) as an aware datetime; None for None."""
    if not text:
        return None
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass
class Plan:
    """What the keeper does next."""

    retire: list = field(default_factory=list)  # members to delete (their servers stop)
    ready: list = field(default_factory=list)  # members whose server may be handed out
    create: int = 0  # members to make, each with its server started


def plan(size, members, servers, visitors_starting, now, max_age, parallel=2):
    """Decide from the hub's state, without side effects.

    size: the pool's size; members: the group's user names; servers: name -> server
    model (ready, pending, started) of every user with an active server;
    visitors_starting: whether a server of someone not in the pool is starting; now: an
    aware datetime; max_age: seconds a member's server may wait; parallel: members
    starting at once at most.
    """
    result = Plan()
    kept = []
    for name in sorted(members):
        server = servers.get(name)
        if server is None:
            result.retire.append(name)  # stopped: culled, failed, or never started
            continue
        started = parse_time(server.get("started"))
        if server.get("ready") and started is not None and (now - started).total_seconds() > max_age:
            result.retire.append(name)
            continue
        kept.append((not server.get("ready"), started or now, name))
    kept.sort()  # ready first, the oldest first: handed out first
    result.retire.extend(entry[2] for entry in kept[size:])
    kept = kept[:size]
    result.ready = [name for pending, _started, name in kept if not pending]
    starting = sum(1 for entry in kept if entry[0])
    if not visitors_starting:
        result.create = max(0, min(size - len(kept), parallel - starting))
    return result


class WarmPool:
    """Keeps size servers started ahead of demand; take() hands one out."""

    def __init__(self, size, max_age, api_url, token, log, interval=2.0):
        self.size, self.max_age, self.interval, self.log = size, max_age, interval, log
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.ready = []  # names handed out first come, from the last look
        self._taken = set()  # handed out and maybe still listed in the group
        self._taking = asyncio.Lock()  # one hand-out at a time: never one name twice
        self._http = AsyncHTTPClient()

    async def api(self, method, path, body=None):
        """The hub's REST API; the parsed JSON answer (None when empty)."""
        request = HTTPRequest(
            self.api_url + path, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json",
                     "Accept": "application/jupyterhub-pagination+json"},
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True, request_timeout=60,
        )
        response = await self._http.fetch(request)
        return json.loads(response.body) if response.body else None

    async def look(self):
        """ready from the group and its members' servers now (between the keeper's steps: a
        server ready since its last step, a hub just started), in the order plan() hands them out."""
        servers = {}
        for name in await self.members() - self._taken:
            server = (await self.api("GET", f"/users/{urllib.parse.quote(name)}")).get("servers", {}).get("")
            if server:
                servers[name] = server
        now = datetime.datetime.now(datetime.timezone.utc)
        decided = plan(self.size, set(servers), servers, True, now, self.max_age)
        self.ready = [name for name in decided.ready if name not in self._taken]

    async def take(self):
        """The name of a member whose server is ready, now out of the pool; None if none is."""
        async with self._taking:
            name = None
            try:
                if not self.ready and self.size > 0:
                    await self.look()
                if not self.ready:
                    return None
                name = self.ready.pop(0)
                self._taken.add(name)
                await self.api("DELETE", f"/groups/{GROUP}/users", {"users": [name]})
            except (HTTPClientError, OSError, KeyError, ValueError) as error:
                self.log.warning("Warm pool: no server handed out: %s", error)
                self._taken.discard(name)  # still a member: the keeper looks after it
                return None  # a brand-new user, as without a pool
        self.log.info("Warm pool: handed out %s", name)
        return name

    async def members(self):
        return set((await self.api("GET", f"/groups/{GROUP}"))["users"])

    async def active_servers(self):
        """name -> default server model, for every user with an active server (all pages)."""
        servers, offset = {}, 0
        while True:
            page = await self.api("GET", f"/users?state=active&limit=200&offset={offset}")
            for user in page["items"]:
                if "" in user.get("servers", {}):
                    servers[user["name"]] = user["servers"][""]
            next_page = (page.get("_pagination") or {}).get("next") or {}
            offset = next_page.get("offset")
            if offset is None:
                return servers

    async def step(self):
        members = await self.members()
        self._taken &= members  # a name no longer listed has left the group for good
        if not members and self.size == 0:
            return  # no pool, and none left from an earlier size
        servers = await self.active_servers()
        starting = any(s.get("pending") == "spawn" for name, s in servers.items() if name not in members)
        now = datetime.datetime.now(datetime.timezone.utc)
        decided = plan(self.size, members - self._taken, servers, starting, now, self.max_age)
        self.ready = [name for name in decided.ready if name not in self._taken]
        for name in decided.retire:
            self.log.info("Warm pool: retiring %s", name)
            try:
                await self.api("DELETE", f"/users/{urllib.parse.quote(name)}")
            except HTTPClientError as error:
                self.log.warning("Warm pool: could not delete %s yet: %s", name, error)
        for _count in range(decided.create):
            name = str(uuid.uuid4())
            await self.api("POST", f"/users/{name}")
            await self.api("POST", f"/groups/{GROUP}/users", {"users": [name]})
            await self.api("POST", f"/users/{name}/server")
            self.log.info("Warm pool: starting %s (%d of %d ready)", name, len(self.ready), self.size)

    async def keep(self):
        """Forever, every interval (the first once the hub listens): one step; errors are
        logged, never fatal to the hub."""
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.step()
            except (HTTPClientError, OSError, KeyError, ValueError) as error:
                self.log.warning("Warm pool: %s", error)
