# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The systemd_spawner role's spawner: SystemdSpawner, safer and steadier under load.

Written by the systemd_spawner role beside the hub's base configuration (which
puts that directory on sys.path); its fragment 45-systemd-spawner.py imports it.
Unit tests: tests/unit/test_systemd_spawner.py.
"""

import asyncio
import os
import re

from systemdspawner import SystemdSpawner
from tornado import web
from traitlets import Integer

# A user name becomes a unit name, a directory name (StateDirectory, the home) and
# words of root command lines that systemd splits at spaces and expands at "%"
# (ExecStopPost removes the home). Only names that are one safe word in all of
# them are served: lower case (JupyterHub's default normalization), digits, and
# "-", "_", "." after the first character; UUIDs (temporary users) pass.
SAFE_USER_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def check_user_name(name):
    """Refuse (HTTP 400, before anything starts) a name that is not one safe word for systemd."""
    if not SAFE_USER_NAME.fullmatch(name):
        raise web.HTTPError(
            400, "The user name %r cannot have a server on this hub: SystemdSpawner serves only names "
                 "of lower-case letters, digits, '-', '_' and '.' (up to 64, the first a letter or digit)",
            name)


_START_LIMIT = {}


def _start_limit(size):
    """One semaphore for all of the hub's spawners (its size fixed at the first start)."""
    if "semaphore" not in _START_LIMIT:
        _START_LIMIT["semaphore"] = asyncio.Semaphore(size)
    return _START_LIMIT["semaphore"]


class SystemdSpawnerThatAsksAgain(SystemdSpawner):
    """SystemdSpawner whose poll tells a stopped server from an unanswered question.

    SystemdSpawner's own poll takes any failure of `systemctl is-active` for a
    stopped server, and the hub then stops that server. Under load PID 1 can
    refuse or time out a connection ("Failed to connect to bus"); that must not
    end a running session. Only a state systemd reports ends it.

    And start returns once the server listens: the hub's own wait looks at once,
    then after a random 0-0.2 s, 0-0.4 s, 0-0.8 s ... (up to 5 s); here the port is
    tried after 50 ms, then every 60, 72 ... up to 250 ms, so the hub's first look
    finds the server (bench/, docs/benchmarks.md). At most concurrent_starts servers
    start at once; the others wait their turn.

    A user name that is not one safe word for systemd (check_user_name) starts nothing.
    """

    concurrent_starts = Integer(
        0, config=True,
        help="Servers starting at once, hub-wide; 0: twice the CPUs the hub may use.",
    )

    async def start(self):
        check_user_name(self.user.name)
        loop = asyncio.get_running_loop()
        # Within the hub's start_timeout for this method; the hub's own wait follows.
        deadline = loop.time() + self.start_timeout - 2
        size = self.concurrent_starts or 2 * len(os.sched_getaffinity(0))
        starts = _start_limit(size)
        if starts.locked():
            self.log.info("%s waits for one of %d servers starting now", self.unit_name, size)
        # First come, first served: a crowd's first visitors get their servers in
        # seconds, instead of every server sharing the CPUs until all are late.
        async with starts:
            return await self._start_and_wait(loop, deadline)

    async def _start_and_wait(self, loop, deadline):
        started = await super().start()
        if started is None:
            return None
        ip, port = started
        delay, asked = 0.05, loop.time()
        while loop.time() < deadline:
            try:
                _reader, writer = await asyncio.open_connection(ip, port)
            except OSError:
                # Every 2 s: a unit that stopped has nothing to wait for (the hub says why).
                if loop.time() - asked > 2:
                    if await self.poll() is not None:
                        break
                    asked = loop.time()
                await asyncio.sleep(delay)
                # 50 ms at first, then slower: many servers starting at once must not
                # keep the hub's event loop busy knocking on their ports.
                delay = min(delay * 1.2, 0.25)
            else:
                writer.close()
                break
        return ip, port

    def _expand_user_vars(self, value):
        # A property may have several values (systemd-run gets one --property per value).
        if isinstance(value, list):
            return [super(SystemdSpawnerThatAsksAgain, self)._expand_user_vars(v) for v in value]
        return super()._expand_user_vars(value)

    async def poll(self):
        proc = await asyncio.create_subprocess_exec(
            "systemctl", "show", "--property=ActiveState", "--value", self.unit_name,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        state = out.decode().strip()
        if proc.returncode != 0 or not state:
            self.log.warning("systemd did not say whether %s runs (%s); asking again at the next poll",
                             self.unit_name, err.decode().strip() or f"exit status {proc.returncode}")
            return None
        return None if state in ("active", "activating", "reloading", "refreshing") else 1
