# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The slurm_spawner role's spawn form: profiles per group, and the accounts, QoS, partitions,
reservations and time limits Slurm itself allows each user.

Written by the slurm_spawner role beside the hub's base configuration; the spawner module
(unopinionated_jupyterhub_slurm.py) imports it. Unit tests: tests/unit/test_slurm_form.py.

What a user may choose comes from Slurm (sacctmgr's associations, scontrol's reservations,
sinfo's partitions), read by SlurmFacts with one call per kind for the whole cluster, kept
for cache_seconds and refreshed behind the page that asked (a page load waits on Slurm only
the first time after the hub starts). Every value a user sends is checked against those
lists and the site's (profiles, their groups, partitions and time bounds, the QoS list)
before a job is submitted: nothing unlisted passes, and what reaches the batch script is
the list's own entry (a Slurm name) or a time this module wrote, never the user's text.
"""

import asyncio
import grp
import html
import os
import pwd
import re
import time

from tornado import web

# What may be a Slurm account, QoS, partition or reservation name on this hub: a plain
# word. Slurm's own lists are filtered with it too, so nothing else is ever offered.
SLURM_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
# Slurm's time formats: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
# days-hours:minutes, days-hours:minutes:seconds.
_TIME = re.compile(r"(?:(\d{1,3})-)?(\d{1,5})(?::(\d{1,2}))?(?::(\d{1,2}))?")
FIELDS = ("account", "qos", "partition", "reservation", "runtime")


def parse_time(text):
    """Seconds in a Slurm time limit (ValueError for anything else: UNLIMITED is not a bound here)."""
    match = _TIME.fullmatch(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ValueError("%r is not a Slurm time limit (minutes, HH:MM:SS or D-HH:MM:SS)" % (text,))
    days, first, second, third = match.groups()
    if days is not None:  # D-HH[:MM[:SS]]
        seconds = int(days) * 86400 + int(first) * 3600 + int(second or 0) * 60 + int(third or 0)
    elif third is not None:  # HH:MM:SS
        seconds = int(first) * 3600 + int(second) * 60 + int(third)
    elif second is not None:  # MM:SS
        seconds = int(first) * 60 + int(second)
    else:  # MM
        seconds = int(first) * 60
    return seconds


def format_time(seconds):
    """A time limit as this module writes it into a batch script: D-HH:MM:SS."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return "%d-%02d:%02d:%02d" % (days, hours, minutes, secs)


def _names(text):
    """A comma-separated Slurm list, keeping only plain names."""
    return [name for name in (text or "").split(",") if SLURM_NAME.fullmatch(name)]


def parse_associations(text):
    """``sacctmgr -nP show associations format=user,account,partition,qos`` as
    {user: [(account, partition or "", [qos, ...]), ...]} (account-level rows, with no user, left out)."""
    users = {}
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) != 4 or not fields[0]:
            continue
        user, account, partition, qos = fields
        if not SLURM_NAME.fullmatch(account) or (partition and not SLURM_NAME.fullmatch(partition)):
            continue
        users.setdefault(user, []).append((account, partition, _names(qos)))
    return users


def parse_default_accounts(text):
    """``sacctmgr -nP show users format=user,defaultaccount`` as {user: account}."""
    defaults = {}
    for line in text.splitlines():
        user, _bar, account = line.partition("|")
        if user and SLURM_NAME.fullmatch(account):
            defaults[user] = account
    return defaults


def parse_reservations(text):
    """``scontrol --oneliner show reservation`` as a list of dicts (name, users, accounts, groups,
    start, end as epoch seconds of this host's time zone, flags)."""
    reservations = []
    for line in text.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        name = fields.get("ReservationName", "")
        if not SLURM_NAME.fullmatch(name):
            continue
        try:
            start, end = (time.mktime(time.strptime(fields.get(key, ""), "%Y-%m-%dT%H:%M:%S"))
                          for key in ("StartTime", "EndTime"))
        except ValueError:
            continue
        reservations.append({
            "name": name, "start": start, "end": end,
            "users": [u for u in (fields.get("Users") or "").split(",") if u and u != "(null)"],
            "accounts": [a for a in (fields.get("Accounts") or "").split(",") if a and a != "(null)"],
            "groups": [g for g in (fields.get("Groups") or "").split(",") if g and g != "(null)"],
            "flags": (fields.get("Flags") or "").split(","),
        })
    return reservations


def _admits(entries, wanted):
    """Slurm's reservation lists: NAME admits NAME; a list of -NAME admits everyone else."""
    if not entries:
        return False
    if all(entry.startswith("-") for entry in entries):
        return not any(entry[1:] in wanted for entry in entries)
    return any(entry in wanted for entry in entries)


def reservation_admits(reservation, user, accounts, groups, now=None):
    """Whether the user may submit into a reservation that has not ended (MAINT ones never)."""
    now = time.time() if now is None else now
    if reservation["end"] <= now or "MAINT" in reservation["flags"]:
        return False
    return (_admits(reservation["users"], {user}) or _admits(reservation["accounts"], set(accounts))
            or _admits(reservation["groups"], set(groups)))


def user_groups(name):
    """The user's Unix groups by name, through NSS (the directory's, through SSSD)."""
    try:
        account = pwd.getpwnam(name)
    except KeyError:
        return set()
    names = set()
    for gid in os.getgrouplist(name, account.pw_gid):
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            continue
    return names


class SlurmFacts:
    """Slurm's lists for the whole cluster, one command per kind, cached.

    ``get`` answers from the cache; an answer older than ``cache_seconds`` is still given
    and a refresh starts behind it (one at a time per kind). ``fresh`` waits for a new
    answer: a value that the cache does not know is looked up once more before it is refused
    (an association added a minute ago). Commands run without a shell.
    """

    def __init__(self, bin_dir="/usr/bin", cache_seconds=60, timeout=30):
        self.cache_seconds = cache_seconds
        self.timeout = timeout
        self.commands = {
            "associations": ([os.path.join(bin_dir, "sacctmgr"), "--noheader", "--parsable2", "show",
                              "associations", "format=user,account,partition,qos"], parse_associations),
            "default_accounts": ([os.path.join(bin_dir, "sacctmgr"), "--noheader", "--parsable2", "show",
                                  "users", "format=user,defaultaccount"], parse_default_accounts),
            "reservations": ([os.path.join(bin_dir, "scontrol"), "--oneliner", "show", "reservation"],
                             parse_reservations),
            "partitions": ([os.path.join(bin_dir, "sinfo"), "--noheader", "--format=%R"],
                           lambda text: sorted(set(_names(",".join(text.split()))))),
        }
        self._cache = {}
        self._refreshing = {}

    async def _run(self, kind):
        argv, parse = self.commands[kind]
        process = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            out, err = await asyncio.wait_for(process.communicate(), self.timeout)
        except asyncio.TimeoutError:
            raise web.HTTPError(503, "Slurm did not answer %s within %d s"
                                % (os.path.basename(argv[0]), self.timeout)) from None
        finally:
            if process.returncode is None:  # timed out, or the hub is stopping
                process.kill()
        if process.returncode != 0:
            raise web.HTTPError(503, "Slurm's %s failed (exit %d): %s" % (
                os.path.basename(argv[0]), process.returncode, err.decode(errors="replace").strip()[:300]))
        value = parse(out.decode(errors="replace"))
        self._cache[kind] = (time.monotonic(), value)
        return value

    async def fresh(self, kind):
        if kind not in self._refreshing or self._refreshing[kind].done():
            self._refreshing[kind] = asyncio.ensure_future(self._run(kind))
        return await asyncio.shield(self._refreshing[kind])

    async def get(self, kind):
        cached = self._cache.get(kind)
        if cached is None:
            return await self.fresh(kind)
        fetched, value = cached
        if time.monotonic() - fetched > self.cache_seconds and (
                kind not in self._refreshing or self._refreshing[kind].done()):
            task = self._refreshing[kind] = asyncio.ensure_future(self._run(kind))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a failed refresh keeps the old answer
        return value


class Choices:
    """What one user may choose: built from the site's settings and Slurm's lists."""

    def __init__(self, user, groups, profiles, fields, associations=(), default_account="",
                 reservations=(), partitions=(), allowed_qos=(), now=None):
        self.user = user
        self.fields = [f for f in FIELDS if f in fields]
        self.profiles = [p for p in profiles if not p.get("groups") or set(p["groups"]) & set(groups)]
        self.associations = list(associations)
        accounts = []
        for account, _partition, _qos in self.associations:
            if account not in accounts:
                accounts.append(account)
        self.accounts = accounts
        self.default_account = default_account if default_account in accounts else (accounts[0] if accounts else "")
        qos = []
        for _account, _partition, names in self.associations:
            qos += [name for name in names if name not in qos and (not allowed_qos or name in allowed_qos)]
        self.qos = qos
        self.allowed_qos = list(allowed_qos)
        self.slurm_partitions = list(partitions)
        self.reservations = [r["name"] for r in reservations if reservation_admits(r, user, accounts, groups, now)]

    def profile(self, name):
        return next((p for p in self.profiles if p["name"] == name), None)

    def partitions(self, profile):
        """A profile's partitions the user may choose: the site's, that Slurm has."""
        listed = list(profile.get("partitions") or ([profile["partition"]] if profile.get("partition") else []))
        return [p for p in listed if p in self.slurm_partitions]

    def association_allows(self, account, partition, qos):
        for assoc_account, assoc_partition, assoc_qos in self.associations:
            if assoc_account == account and assoc_partition in ("", partition) and (not qos or qos in assoc_qos):
                return True
        return False


def _one(value):
    """A form value (a list of one string) or an API value (a string)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if not isinstance(value, str):
        raise web.HTTPError(400, "Each option must be one string")
    return value.strip()


def _refuse(what, value, choices):
    raise web.HTTPError(400, "%s %r is not one you may choose on this hub; choose one of: %s"
                        % (what, value, ", ".join(choices) or "(none)"))


def validate(choices, user_options, runtime_default):
    """The job's settings from the user's options, each checked against ``choices``.

    Returns {"profile", "account", "qos", "partition", "reservation", "runtime"} where an
    empty string means "not chosen: the site's default". Raises HTTPError 400 naming the
    option otherwise. ``runtime`` comes back as this module formats it.
    """
    if not choices.profiles:
        raise web.HTTPError(403, "No resource profile of this hub is open to %s's groups" % choices.user)
    unknown = set(user_options) - {"profile", *choices.fields}
    if unknown:
        raise web.HTTPError(400, "Unknown options: %s" % ", ".join(sorted(map(repr, unknown))))
    name = _one(user_options.get("profile", choices.profiles[0]["name"]))
    profile = choices.profile(name)
    if profile is None:
        _refuse("Profile", name, [p["name"] for p in choices.profiles])
    job = {"profile": name, "account": "", "qos": "", "partition": "", "reservation": "", "runtime": ""}
    for field in choices.fields:
        value = _one(user_options.get(field, ""))
        if field == "runtime":
            bound = parse_time(str(profile.get("max_runtime") or profile.get("runtime") or runtime_default))
            if value:
                try:
                    seconds = parse_time(value)
                except ValueError as e:
                    raise web.HTTPError(400, "Time limit: %s" % e) from None
                if not 60 <= seconds <= bound:
                    raise web.HTTPError(400, "Time limit %r is outside this profile's bounds: 1 minute to %s"
                                        % (value, format_time(bound)))
                job["runtime"] = format_time(seconds)
            continue
        if not value:
            continue
        offered = {"account": choices.accounts, "qos": choices.qos, "partition": choices.partitions(profile),
                   "reservation": choices.reservations}[field]
        if value not in offered:
            _refuse({"qos": "QoS"}.get(field, field.capitalize()), value, offered)
        job[field] = value
    account = job["account"] or choices.default_account
    partition = job["partition"] or profile.get("partition") or ""
    if "account" in choices.fields or "qos" in choices.fields:
        if account and not choices.association_allows(account, partition, job["qos"]):
            raise web.HTTPError(400, "Slurm has no association of %s with account %r%s%s" % (
                choices.user, account, " and QoS %r" % job["qos"] if job["qos"] else "",
                " on partition %r" % partition if partition else ""))
    return job


def _select(field, label, options, selected, blank=None):
    items = ([("", blank)] if blank is not None else []) + [(o, o) for o in options]
    body = "\n".join('<option value="%s"%s>%s</option>' % (
        html.escape(value), " selected" if value == selected else "", html.escape(text)) for value, text in items)
    return ('<div class="form-group mb-3"><label class="form-label" for="%s">%s</label>\n'
            '<select class="form-select form-control" name="%s" id="%s">\n%s\n</select></div>'
            % (field, label, field, field, body))


def render(choices, runtime_default):
    """The spawn form's HTML: every name from the site or Slurm escaped."""
    profile_options = []
    for p in choices.profiles:
        text = p.get("display_name") or p["name"]
        if "runtime" in choices.fields:
            text += " (up to %s)" % (p.get("max_runtime") or p.get("runtime") or runtime_default)
        profile_options.append('<option value="%s">%s</option>' % (html.escape(p["name"]), html.escape(text)))
    parts = ['<div class="form-group mb-3"><label class="form-label" for="profile">Resources</label>\n'
             '<select class="form-select form-control" name="profile" id="profile">\n%s\n</select></div>'
             % "\n".join(profile_options)]
    if "account" in choices.fields:
        parts.append(_select("account", "Account", choices.accounts, choices.default_account))
    if "qos" in choices.fields:
        parts.append(_select("qos", "QoS", choices.qos, "", blank="(the account's default)"))
    if "partition" in choices.fields:
        partitions = []
        for p in choices.profiles:
            partitions += [name for name in choices.partitions(p) if name not in partitions]
        parts.append(_select("partition", "Partition", partitions, "", blank="(the profile's)"))
    if "reservation" in choices.fields:
        parts.append(_select("reservation", "Reservation", choices.reservations, "", blank="(none)"))
    if "runtime" in choices.fields:
        parts.append('<div class="form-group mb-3"><label class="form-label" for="runtime">Time limit</label>\n'
                     '<input class="form-control" name="runtime" id="runtime" placeholder="HH:MM:SS (the profile\'s'
                     ' default)" pattern="[0-9:-]*" maxlength="16"></div>')
    return "\n".join(parts)
