# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The ephemeral hub's login: one shared password, a new temporary user per visit, a throttle.

With a warm pool (unopinionated_jupyterhub_warm_pool), the new user is one whose server
was started before the visitor arrived, when one is ready.

Written by the systemd_spawner role beside the hub's base configuration (on its
sys.path); the fragment 30-temporary-users.py imports it and sets its options.
Unit tests: tests/unit/test_auth.py.

Wrong passwords are counted per client address, and in all: the client address is
believed from X-Real-Ip only on requests traefik vouches for (its hub-origin header,
unopinionated_jupyterhub_proxy.client_address), since users' servers reach the hub
directly on 127.0.0.1 and could otherwise lock out any address (a classroom's NAT).
IPv6 addresses count per /64 (what one host or household gets). Memory is bounded:
at most max_tracked addresses, each with at most max_failures times.
"""

import asyncio
import collections
import hashlib
import hmac
import ipaddress
import time
import uuid

from jupyterhub.auth import Authenticator
from jupyterhub.handlers.login import LoginHandler
from tornado import web
from traitlets import Integer, Unicode

from unopinionated_jupyterhub_proxy import client_address
from unopinionated_jupyterhub_warm_pool import WarmPool, token_of


def address_key(address):
    """The unit wrong passwords are counted in: an IPv4 address, an IPv6 /64, or the text given."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class FailureThrottle:
    """Wrong passwords within a sliding window: per key (max_failures) and in all (budget)."""

    def __init__(self, max_failures, window, budget, max_tracked=100_000, clock=time.monotonic):
        self.max_failures, self.window, self.budget, self.max_tracked = max_failures, window, budget, max_tracked
        self.clock = clock
        self._by_key = collections.OrderedDict()  # key -> its last failure times, least recent key first
        self._all = collections.deque(maxlen=budget)

    def _forget_old(self, now):
        while self._by_key:
            key, times = next(iter(self._by_key.items()))
            if now - times[-1] < self.window:
                break
            del self._by_key[key]

    def retry_after(self, address):
        """0 when a login from address may be tried now, else the seconds to wait."""
        now = self.clock()
        self._forget_old(now)
        waits = [0.0]
        times = self._by_key.get(address_key(address))
        if times is not None and len(times) >= self.max_failures:
            waits.append(self.window - (now - times[0]))
        if len(self._all) >= self.budget:
            waits.append(self.window - (now - self._all[0]))
        return max(0.0, *waits)

    def failed(self, address):
        now = self.clock()
        key = address_key(address)
        times = self._by_key.pop(key, None) or []  # a list: a deque per address costs 6x the memory
        times.append(now)
        del times[:-self.max_failures]
        self._by_key[key] = times  # now the most recent
        self._all.append(now)
        while len(self._by_key) > self.max_tracked:
            self._by_key.popitem(last=False)

    def succeeded(self, address):
        self._by_key.pop(address_key(address), None)

    def tracked(self):
        return len(self._by_key)


class PasswordOnlyLoginHandler(LoginHandler):
    """JupyterHub's login handler for a form without a username field."""

    async def post(self):
        # On a failed login the handler reads data["username"] to re-fill the form.
        for arguments in (self.request.body_arguments, self.request.arguments):
            arguments.setdefault("username", [b""])
        return await super().post()


class TemporaryUsersAuthenticator(Authenticator):
    """One site-wide password; every correct entry makes a new temporary user."""

    password_file = Unicode(config=True, help="The file holding the shared password (root only).")
    max_failures = Integer(5, config=True, help="Wrong passwords per address (IPv6: per /64) within the window.")
    failure_window = Integer(60, config=True, help="Seconds over which wrong passwords are counted.")
    failure_budget = Integer(1000, config=True, help="Wrong passwords from all addresses within the window.")
    warm_pool_size = Integer(0, config=True, help="Servers started ahead of visitors (0: none).")
    warm_pool_max_age = Integer(3600, config=True, help="Seconds a pool server waits before it is replaced.")

    def get_handlers(self, app):
        return [("/login", PasswordOnlyLoginHandler)]

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        with open(self.password_file, "rb") as f:
            self._password_digest = hashlib.sha256(f.read()).digest()
        self.throttle = FailureThrottle(self.max_failures, self.failure_window, self.failure_budget)
        self.warm_pool = None
        app = self.parent
        token = token_of(getattr(app, "services", []))  # unopinionated_jupyterhub_warm_pool.configure(c)
        if token and getattr(app, "hub", None) is not None:
            # Size 0 too: the keeper then retires what an earlier pool left.
            self.warm_pool = WarmPool(self.warm_pool_size, self.warm_pool_max_age, app.hub.api_url, token, self.log)
            self._keeper = asyncio.get_running_loop().create_task(self.warm_pool.keep())

    async def authenticate(self, handler, data):
        address = client_address(handler.request, handler.settings.get("proxy"))
        wait = self.throttle.retry_after(address)
        if wait > 0:
            self.log.warning("Login from %s throttled (too many wrong passwords)", address)
            error = web.HTTPError(429, "too many wrong passwords")
            # The text JupyterHub's error page shows.
            error.jupyterhub_message = (
                f"Too many wrong passwords from your address. Try again in {int(wait) + 1} seconds."
            )
            raise error
        # Compare digests in constant time: neither content nor length leaks.
        given = hashlib.sha256((data.get("password") or "").encode("utf-8")).digest()
        if hmac.compare_digest(given, self._password_digest):
            self.throttle.succeeded(address)
            name = await self.warm_pool.take() if self.warm_pool else None
            return {"name": name or str(uuid.uuid4())}
        self.throttle.failed(address)
        self.log.warning("Wrong shared password from %s", address)
        return None
