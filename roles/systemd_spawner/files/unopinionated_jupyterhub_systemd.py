# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The systemd_spawner role's spawner: SystemdSpawner, safer and steadier under load.

Written by the systemd_spawner role beside the hub's base configuration (which
puts that directory on sys.path); its fragment 45-systemd-spawner.py imports it.
Unit tests: tests/unit/test_systemd_spawner.py.
"""

import asyncio
import grp
import hashlib
import os
import pwd
import re

from jupyterhub.utils import maybe_future
from systemdspawner import SystemdSpawner
from tornado import web
from traitlets import Bool, Dict, Integer, List, Unicode

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


# Paths that go into unit properties (ExecStartPre's command line, BindPaths=): plain
# absolute paths, nothing systemd would split or expand ("%", spaces, quotes).
SAFE_PATH = re.compile(r"(/[A-Za-z0-9_.-]+)+")
# The longest account name useradd makes (Debian, EL: 32).
ACCOUNT_NAME_MAX = 32
LIMIT_KEYS = ("mem_limit", "cpu_limit", "tasks_max")
SIZE = re.compile(r"([0-9]+)([KMGT]?)")


def account_name(prefix, name):
    """The system account of hub user ``name``: prefix + name, or a shortened name with a hash.

    Names too long for useradd keep their start and get 8 hex digits of the name's
    SHA-256, so two long names never share an account (as TLJH does).
    """
    full = prefix + name
    if len(full) <= ACCOUNT_NAME_MAX:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return full[:ACCOUNT_NAME_MAX - 9] + "-" + digest


def size_bytes(value):
    """2G, 512M, 1024 (bytes) as JupyterHub reads mem_limit (1024-based); 0 or "" is no limit."""
    if value in (None, ""):
        return 0
    if isinstance(value, int):
        return value
    match = SIZE.fullmatch(str(value))
    if not match:
        raise ValueError("not a size: %r" % (value,))
    return int(match.group(1)) * 1024 ** " KMGT".index(match.group(2) or " ")


def limits_for(user_name, group_names, defaults, user_limits, group_limits):
    """The limits of one user's server: their own, else the most generous of their groups', else the site's.

    ``group_names`` come from the identity provider (untrusted): they are only looked up in
    the site's ``group_limits``. 0 is "no limit", which is the most generous of all.
    """
    limits = dict(defaults)
    found = [group_limits[name] for name in sorted(set(group_names)) if name in group_limits]
    for key in LIMIT_KEYS:
        values = [limit[key] for limit in found if key in limit]
        if values:
            measure = size_bytes if key == "mem_limit" else float
            limits[key] = max(values, key=lambda v: measure(v) or float("inf"))
    limits.update({key: value for key, value in user_limits.get(user_name, {}).items() if key in LIMIT_KEYS})
    return limits


# The hub's own unit may not write /etc, sees no /home and has no capability (its drop-in):
# what root must do for an account runs as a short unit of its own, started by PID 1.
AS_ROOT = ["/usr/bin/systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--"]
# A directory's account: its home, made the first time (anything already there is left alone).
MAKE_HOME = '[ -e "$1" ] || [ -L "$1" ] || { mkdir -m 0700 -- "$1" && chown -- "$2" "$1"; }'


async def run_command(argv):
    """Run a program (no shell) as root in a unit of its own; a failure is HTTP 500 naming it."""
    proc = await asyncio.create_subprocess_exec(
        *AS_ROOT, *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise web.HTTPError(500, "%s failed (exit status %d): %s" % (
            os.path.basename(argv[0]), proc.returncode, (err or out).decode(errors="replace").strip()[:300]))


# A dynamic user's home (StateDirectory) and systemd's link to it: gone when the server stops.
HOMES = ("/var/lib/private/{USERNAME}", "/var/lib/{USERNAME}")
# rm removes a link, never follows it, and stays on the home's file system.
REMOVE = ["/bin/rm", "-rf", "--one-file-system", "--"]
REMOVE_HOMES = [*REMOVE, *HOMES]


def exec_stop_post():
    """ExecStopPost= of a dynamic user's server: after the unit stops for any reason (stop,
    crash, culler, OOM), a short oneshot unit removes the home. A separate unit, because even a
    "+" command runs in the server's mount namespace, where the home is a mount point in a
    read-only directory. systemd 252 (Debian 12) forgets this at a daemon-reload (it writes
    ExecStopPostEx= into the transient unit and cannot read it back): the hub then removes the
    home after the stop (SystemdSpawnerThatAsksAgain.run_post_stop_hook)."""
    return ("+/usr/bin/systemd-run --quiet --collect --wait --property=Type=oneshot "
            "--unit=jupyterhub-remove-home-{USERNAME} " + " ".join(REMOVE_HOMES))


_START_LIMIT = {}
# useradd and gpasswd lock /etc/passwd and /etc/group: one at a time, hub-wide.
_ACCOUNT_LOCK = {}


def _account_lock():
    if "lock" not in _ACCOUNT_LOCK:
        _ACCOUNT_LOCK["lock"] = asyncio.Lock()
    return _ACCOUNT_LOCK["lock"]


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
    tasks_max = Integer(0, config=True, help="TasksMax= of every server (0: systemd's default).")
    user_limits = Dict(config=True, help="Hub user name: {mem_limit, cpu_limit, tasks_max} of their server.")
    group_limits = Dict(
        config=True,
        help="Hub group name: {mem_limit, cpu_limit, tasks_max}; a user in several groups gets the most generous.")
    persistent_users = Bool(
        False, config=True,
        help="Servers run as system accounts with homes that last (not dynamic users with homes removed at stop).")
    user_prefix = Unicode(
        "jupyter-", config=True,
        help="Persistent users: the account of hub user NAME is PREFIX+NAME, made at its first start; "
             "empty: the account NAME must exist (a directory's), nothing is made.")
    home_base = Unicode("/home", config=True, help="Where accounts the hub makes get their homes.")
    min_uid = Integer(1000, config=True, help="Accounts below this uid (the system's) never get a server.")
    group_dirs = List(
        config=True,
        help="[{group, unix_group, path}]: a folder of hub group GROUP, writable by its Unix group UNIX_GROUP, "
             "linked into each member's home (persistent users).")
    home_links = List(config=True, help="Read-only shared directories linked into persistent homes.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The site's settings; each start works from these (the spawner lives across a user's starts).
        self.site_settings = {
            "properties": dict(self.unit_extra_properties),
            "mem_limit": self.mem_limit, "cpu_limit": self.cpu_limit, "tasks_max": self.tasks_max,
        }

    async def run_post_stop_hook(self):
        """The site's post_stop_hook, then a dynamic user's home if it is still there."""
        await maybe_future(super().run_post_stop_hook())
        if not self.persistent_users:
            await self.remove_home()

    async def remove_home(self, homes=HOMES):
        """Remove what ExecStopPost did not (systemd 252 forgets it at a daemon-reload): as root,
        in a unit of its own (the hub's file system is read-only there); rm removes a link, never
        follows it, and stays on the home's file system."""
        check_user_name(self.user.name)
        paths = [home.replace("{USERNAME}", self.user.name) for home in homes]
        if any(os.path.lexists(path) for path in paths):
            self.log.info("Removing %s's home, which its unit's ExecStopPost left", self.user.name)
            await run_command(REMOVE + paths)

    async def start(self):
        check_user_name(self.user.name)
        self.apply_limits()
        if self.persistent_users:
            await self.prepare_account()
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

    def hub_groups(self):
        """The names of the user's hub groups (with hub_authenticator oidc, the provider's: untrusted)."""
        return {group.name for group in getattr(self.user, "groups", [])}

    def apply_limits(self):
        """This user's limits (theirs, their groups', the site's) onto this start's unit."""
        site = self.site_settings
        limits = limits_for(self.user.name, self.hub_groups(), {key: site[key] for key in LIMIT_KEYS},
                            self.user_limits, self.group_limits)
        self.mem_limit = size_bytes(limits["mem_limit"]) or None
        self.cpu_limit = float(limits["cpu_limit"] or 0) or None
        properties = dict(site["properties"])
        if int(limits["tasks_max"] or 0) > 0:
            properties["TasksMax"] = str(int(limits["tasks_max"]))
        self.unit_extra_properties = properties
        return limits

    async def prepare_account(self):
        """The user's account, home and group folders, and the unit properties that confine them there.

        Root's work here touches only names that check_user_name let through and folders of the
        site's configuration; the links in the user's home are made by the unit itself, as the user.
        """
        name = account_name(self.user_prefix, self.user.name)
        async with _account_lock():
            account = await self.ensure_account(name)
            if self.user_prefix:
                await self.sync_group_members(name)
        home = account.pw_dir
        member_of = set(os.getgrouplist(name, account.pw_gid))
        dirs = []
        for folder in self.group_dirs:
            try:
                gid = grp.getgrnam(folder["unix_group"]).gr_gid
            except KeyError:
                continue
            if gid in member_of:
                dirs.append(folder["path"])
        links = [path for path in self.home_links + dirs if SAFE_PATH.fullmatch(path)]
        properties = self.unit_extra_properties
        properties.update({
            # Only this user's home under /home, and nothing else of the system writable.
            "ProtectSystem": "strict",
            "ProtectHome": "tmpfs",
            "BindPaths": [home],
            # Group folders stay group-writable (setgid folders); the home is 0700.
            "UMask": "0007",
            # As the user ("-": an existing file of that name is the user's, and left alone).
            "ExecStartPre": ["-/bin/ln -sn %s %s/%s" % (path, home, os.path.basename(path)) for path in links],
        })
        if dirs:
            properties["ReadWritePaths"] = dirs
        self.username_template = name
        return account

    async def ensure_account(self, name):
        """The system account ``name``: made (with its home) if the hub makes accounts, else it must exist."""
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            if not self.user_prefix:
                raise web.HTTPError(
                    403, "There is no account %r on this host: ask its administrators for one" % name) from None
            home = os.path.join(self.home_base, name)
            self.log.info("Making the account %s (home %s) for hub user %s", name, home, self.user.name)
            await run_command(["/usr/sbin/useradd", "--create-home", "--home-dir", home, "--key", "HOME_MODE=0700",
                               "--shell", "/bin/bash", "--user-group", "--comment", "JupyterHub user", "--", name])
            account = pwd.getpwnam(name)
        if account.pw_uid < self.min_uid:
            raise web.HTTPError(403, "%r is a system account (uid %d): it gets no server" % (name, account.pw_uid))
        if not SAFE_PATH.fullmatch(account.pw_dir):
            raise web.HTTPError(403, "The home of %r (%r) is not a plain absolute path" % (name, account.pw_dir))
        if not self.user_prefix:
            await run_command(["/bin/sh", "-c", MAKE_HOME, "sh", account.pw_dir,
                               "%d:%d" % (account.pw_uid, account.pw_gid)])
        return account

    async def sync_group_members(self, name):
        """Accounts the hub made are in a group folder's Unix group exactly while in its hub group."""
        hub_groups = self.hub_groups()
        for folder in self.group_dirs:
            try:
                members = grp.getgrnam(folder["unix_group"]).gr_mem
            except KeyError:
                self.log.warning("Group folder %s: no Unix group %s", folder["path"], folder["unix_group"])
                continue
            wanted = folder["group"] in hub_groups
            if wanted and name not in members:
                await run_command(["/usr/bin/gpasswd", "--add", name, folder["unix_group"]])
            elif not wanted and name in members:
                await run_command(["/usr/bin/gpasswd", "--delete", name, folder["unix_group"]])

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
