# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The hub's proxy class: jupyterhub-traefik-proxy's file provider, safe for any user name.

Written by the hub role beside the base configuration (jupyterhub_config.py), which
imports it; tried with it before a restart and put back with it. Unit tests:
tests/unit/test_proxy.py (hostile names, the route file's format, recovery), with a
real traefik.

Two upstream behaviours meet untrusted input here (PITFALLS.md, 2026-12 review):
- jupyterhub-traefik-proxy builds a rule by URL-unquoting the routespec into
  ``PathPrefix(`...`)``: a backtick in a user name closes the string and adds
  matchers (``x`)||PathRegexp(`.*`` took every URL). ``route_rule`` writes the same
  matchers with Go string literals in which every character but printable ASCII
  (and the quote and backslash themselves) is an escape, so no name leaves its string.
- traefik runs every file of its file provider through Go's text/template, and
  parses ``*.yaml`` files as YAML: ``{{`` anywhere, a C1 control character, or an
  escaped UTF-16 surrogate pair (Python's JSON for a character beyond U+FFFF) made
  traefik reject the whole route file, and every route with it. ``dumps_routes``
  writes JSON that holds neither.

With the hub's internal_ssl (hub_internal_ssl), traefik reaches the hub and the users'
servers over TLS, verifying them against JupyterHub's CAs and showing them the
proxy-client certificate JupyterHub made for it (they ask for one): jupyterhub-traefik-
proxy knows nothing of internal_ssl, so ``internal_transport`` gives traefik copies it
can read and every https route's service uses them.
"""

import asyncio
import contextlib
import contextvars
import hashlib
import hmac
import json
import logging
import os
import re
import stat
import tempfile
import time
from urllib.parse import unquote, unquote_to_bytes

import bcrypt
from jupyterhub.utils import exponential_backoff, url_path_join
from jupyterhub_traefik_proxy.fileprovider import TraefikFileProviderProxy
from jupyterhub_traefik_proxy import traefik_utils
from jupyterhub_traefik_proxy.traefik_utils import TraefikConfigFileHandler
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from tornado.ioloop import PeriodicCallback
from traitlets import Bool, Float, Integer, TraitError, Unicode, default, observe, validate

__all__ = ["route_rule", "traefik_path", "go_string", "dumps_routes", "client_address", "GroupReadableRoutes",
           "internal_transport", "SharedRoutesTraefikProxy"]

# traefik sets this header on every request it passes to the hub (a router middleware
# of the hub's route), with a value only the hub and traefik know: the hub believes
# X-Real-Ip only on requests that carry it (client_address).
ORIGIN_HEADER = "X-Unopinionated-Proxy-Origin"

# With a recent tier (SharedRoutesTraefikProxy.recent_url), the main traefik passes every
# request no route of its own matches to the recent one (its router, service and middleware
# TO_RECENT, at the lowest priority), adding this header with a value only the hub and the
# traefiks know; every router of the recent tier matches that header too (so a local user
# who connects to its loopback port directly reaches nothing) and removes it (RECENT_STRIP).
RECENT_HEADER = "X-Unopinionated-Proxy-Tier"
TO_RECENT = "jupyterhub-to-recent"
RECENT_STRIP = "jupyterhub-recent-strip"
# The recent traefik's default certificate, in its store. It serves no TLS, but a traefik
# without one makes an RSA-2048 key at every change of its routes (traefik 3.7,
# pkg/tls/tlsmanager.go): 50-70 ms of each add on the test host.
RECENT_CERT = ("default-cert.pem", "default-key.pem")

# The serversTransport of every https route when the hub runs with internal_ssl.
INTERNAL_TRANSPORT = "jupyterhub-internal"
# Every route's responses of these types are compressed for clients that ask (traefik picks
# zstd, brotli or gzip from Accept-Encoding): JupyterLab's first load is megabytes of
# JavaScript, which tornado sends as it is. Not text/event-stream, nor websockets (no body).
COMPRESS = "jupyterhub-compress"
COMPRESSED_TYPES = [
    "text/html", "text/css", "text/plain", "text/markdown", "text/csv", "text/javascript",
    "application/javascript", "application/json", "application/xml", "image/svg+xml", "application/wasm",
]
# Copies of JupyterHub's proxy-client files that traefik (the route directory's group) reads.
INTERNAL_FILES = {"keyfile": "internal-ssl-proxy-client.key", "certfile": "internal-ssl-proxy-client.crt",
                  "cafile": "internal-ssl-proxy-client-ca.crt"}

# Characters a YAML parser refuses raw (C1 controls, DEL), reads as line breaks
# (NEL, LS, PS), or cannot take at all (UTF-16 surrogates, which never come from
# valid UTF-8 and cannot be written as such): escaped (surrogates replaced).
_YAML_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def go_string(text):
    """``text`` as a Go interpreted string literal: printable ASCII, all else escaped."""
    out = ['"']
    for char in text:
        code = ord(char)
        if char in '"\\':
            out.append("\\" + char)
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif 0xD800 <= code <= 0xDFFF:  # not a code point: Go refuses the escape
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append("\\u%04x" % code)
        else:
            out.append("\\U%08x" % code)
    out.append('"')
    return "".join(out)


# RFC 3986's reserved characters, and "%": traefik matches them as the client
# encoded them (upper-case), every other character decoded.
_KEPT_ENCODED = frozenset(b"!#$%&'()*+,/:;=?@[]")


def traefik_path(path):
    """A routespec's path (JupyterHub's escaping) in the form traefik 3 matches a request's path.

    traefik decodes a request path's percent-escapes but those of reserved characters
    and of "%" itself, which it keeps, upper-cased (measured with traefik 3.7,
    tests/unit/test_proxy.py). Upstream unquotes everything, so a user whose name has
    ``$ ( ) * ; ' ! & + , =`` could never reach their server through traefik.
    """

    def decode(match):
        out = []
        for char in unquote_to_bytes(match.group()).decode("utf-8", "surrogateescape"):
            code = ord(char)
            if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8: kept as its escape
                out.append("%%%02X" % (code - 0xDC00))
            elif code < 0x80 and code in _KEPT_ENCODED:
                out.append("%%%02X" % code)
            else:
                out.append(char)
        return "".join(out)

    return re.sub(r"(?:%[0-9A-Fa-f]{2})+", decode, path)


def route_rule(routespec):
    """traefik's rule for a JupyterHub routespec (``[host]/path/``): that prefix and nothing else.

    The matchers are upstream's (``PathPrefix(path) || Path(path without its slash)``,
    ``Host(host) && ...``), with the path in the form traefik matches (traefik_path).
    """
    if not routespec.endswith("/"):
        raise ValueError("routespec must end with /: %r" % routespec)
    if routespec.startswith("/"):
        host, path = "", routespec
    else:
        host, slash, path = routespec.partition("/")
        host, path = unquote(host), slash + path
    path = traefik_path(path)
    rule = "PathPrefix(%s)" % go_string(path)
    if path.rstrip("/"):
        rule = "( %s || Path(%s) )" % (rule, go_string(path.rstrip("/")))
    if host:
        rule = "Host(%s) && %s" % (go_string(host), rule)
    return rule


def dumps_routes(data):
    """The route file's text: JSON that traefik reads, as YAML after its template pass, as ``data``.

    JSON's own structure never has ``{{`` (objects open after ``: ``, ``[`` or ``, ``)
    and is ASCII, and a raw character that is not printable ASCII can only stand
    inside a string, never after an open backslash (JSON escapes every backslash):
    so replacing them in the whole text changes only string contents, and the hub's
    ``json.load`` reads back what was dumped (surrogates excepted, which no route has).
    """
    text = json.dumps(data, ensure_ascii=False)
    text = _YAML_UNSAFE.sub(
        lambda m: "\\ufffd" if 0xD800 <= ord(m.group()) <= 0xDFFF else "\\u%04x" % ord(m.group()), text
    )
    return text.replace("{{", "{\\u007b")


def client_address(request, proxy):
    """The address a request to the hub came from.

    JupyterHub serves with xheaders, so tornado takes X-Real-Ip from any direct client,
    and users' servers reach the hub directly (127.0.0.1:8081). Here X-Real-Ip counts
    only on a request traefik vouched for (ORIGIN_HEADER with the proxy's origin_token);
    any other request is from its own TCP peer.
    """
    token = getattr(proxy, "origin_token", "")
    given = request.headers.get(ORIGIN_HEADER, "")
    if token and given and hmac.compare_digest(given.encode(), token.encode()):
        return request.remote_ip
    peer = request.connection.context.address
    return peer[0] if isinstance(peer, tuple) else "local"


class GroupReadableRoutes:
    """The route store's files: JSON (which traefik reads as YAML), atomic, 0640, never fatal.

    JSON because it is written at every route change: for 1,000 routes Python's
    json writes it in 8 ms, the toml package upstream uses in 100 ms, during which
    the hub answers nothing.

    traefik reads every file of the store again at each change it sees, then builds
    every router (a profile of traefik 3.7 adding routes to 5,000: docs/benchmarks.md).
    So that a change costs it as little as it can:

    - each route's router and service are in one of ``shards`` files ``rules-NN.yaml``,
      chosen by a hash of the route's key: traefik's YAML decoder compares each key
      of a mapping with every other one, 36% of its CPU with one file of 5,000 routes;
    - the hub's record of each route (upstream keeps it in the route file, where traefik
      parsed it for nothing: 45% of the bytes) is in ``.records/rules-NN.json``;
    - the rest (middlewares, transports, the API's router) is in ``rules.yaml``;
    - a write replaces only the files whose text changed, so one route's change is one
      file: its record first, then its routes;
    - temp files are made in ``.staging/``, on the same file system, where traefik does
      not watch: it sees one event, the rename. A temp file beside the routes made it read
      every file three more times (create, chmod, write).

    A record without its router and service, or a router and service of a shard without
    a record (a hub stopped between the two writes), are dropped when the store is read,
    and the hub adds those routes again. Temp files are made group-readable before the
    rename (upstream creates them 0600, which traefik, another user, cannot read); the
    route directory is setgid to the group traefik is a member of, so only the hub writes
    and only traefik reads. A file that does not parse is moved aside (NAME.corrupt; a
    link is moved, not what it points to) and read as empty, as is one the hub cannot
    read: the hub then adds its routes again instead of crash-looping. The route file of
    earlier releases (every route in rules.yaml, or rules.toml before that) is read as
    well, and rules.toml is removed once the store is written.
    """

    shards = 16

    def __init__(self, file_path, shards=None):
        self.file_path = file_path
        self.directory = os.path.dirname(os.path.abspath(file_path))
        self.legacy_path = os.path.join(self.directory, "rules.toml")
        self.staging = os.path.join(self.directory, ".staging")
        self.records = os.path.join(self.directory, ".records")
        if shards is not None:
            self.shards = shards
        self._base = os.path.splitext(os.path.basename(file_path))[0]
        self._written = {}  # path -> (text, (mtime_ns, size)) of the files this process wrote
        self._shard_of = {}  # route key -> its shard's name
        self._ready = set()  # the store's directories made or checked by this process

    def shard_name(self, key):
        """The shard of the route ``key`` (the hub's key of a route): a hash, so no name reaches a file name."""
        name = self._shard_of.get(key)
        if name is None:
            digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()
            name = self._shard_of[key] = "%s-%02d" % (self._base, int.from_bytes(digest[:4], "big") % self.shards)
        return name

    def shard_paths(self, name):
        """The shard's route file (traefik reads it) and the hub's record of its routes."""
        return os.path.join(self.directory, name + ".yaml"), os.path.join(self.records, name + ".json")

    def _shard_names(self):
        found = set()
        for directory, suffix in ((self.directory, ".yaml"), (self.records, ".json")):
            pattern = re.compile(re.escape(self._base) + r"-[0-9]{2,}" + re.escape(suffix))
            with contextlib.suppress(FileNotFoundError), os.scandir(directory) as entries:
                found.update(e.name[:-len(suffix)] for e in entries if pattern.fullmatch(e.name))
        return sorted(found)

    def load(self):
        names = self._shard_names()
        if not names and not os.path.lexists(self.file_path) and os.path.exists(self.legacy_path):
            return self._read(self.legacy_path)
        merged = self._read(self.file_path) if os.path.lexists(self.file_path) else {}
        from_shards = {"routers": set(), "services": set()}
        for name in names:
            for path in self.shard_paths(name):
                if os.path.lexists(path):
                    part = self._read(path)
                    for kind, found in from_shards.items():
                        found.update(part.get("http", {}).get(kind, {}))
                    _merge(merged, part)
        return _reconcile(merged, from_shards)

    def _read(self, path):
        try:
            if path == self.legacy_path:
                return TraefikConfigFileHandler(path).load()
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            return data
        # json.JSONDecodeError, toml.TomlDecodeError, UnicodeDecodeError; and a route file
        # the hub cannot read (a link to a file not its own, to a directory): moved aside too.
        except (ValueError, PermissionError, IsADirectoryError) as error:
            logging.getLogger("JupyterHub").warning(
                "%s cannot be read or does not parse (%s): moved aside to %s.corrupt, routes are rebuilt",
                path, error, path,
            )
            os.replace(path, path + ".corrupt")
            return {}

    def split(self, data, names=None):
        """``data`` as {path: part}, in the order they are written (empty parts are removed).

        With ``names`` (a set of shard names), only those shards, and not rules.yaml.
        """
        http = data.get("http", {})
        hub = data.get("jupyterhub", {})
        shards = {} if names is None else {name: ({}, {}) for name in names}
        placed = set()
        for key, route in hub.get("routes", {}).items():
            name = self.shard_name(key)
            if names is not None and name not in names:
                continue
            routes, record = shards.setdefault(name, ({}, {}))
            record.setdefault("jupyterhub", {}).setdefault("routes", {})[key] = route
            for kind, alias in (("routers", route.get("router")), ("services", route.get("service"))):
                if alias in http.get(kind, {}):
                    routes.setdefault("http", {}).setdefault(kind, {})[alias] = http[kind][alias]
                    placed.add((kind, alias))
        parts = {}
        for name, (routes, record) in sorted(shards.items()):
            path, record_path = self.shard_paths(name)
            parts[record_path] = record  # the record first: a route is never served unrecorded
            parts[path] = routes
        if names is not None:
            return parts
        common = parts[self.file_path] = {}
        for top, value in data.items():
            if top not in ("http", "jupyterhub"):
                common[top] = value
        for kind, entries in http.items():
            rest = {alias: v for alias, v in entries.items() if (kind, alias) not in placed} \
                if isinstance(entries, dict) else entries
            if rest:  # traefik refuses an empty section, and every route of its file with it
                common.setdefault("http", {})[kind] = rest
        rest = {k: v for k, v in hub.items() if k != "routes"}
        if rest:
            common["jupyterhub"] = rest
        return parts

    def intact(self):
        """Whether every file this process wrote is still there as it wrote it."""
        return all(_status(path) == status for path, (_text, status) in self._written.items())

    def atomic_dump(self, data, keys=None):
        """Write what changed of ``data``: everything, or only the shards of the route ``keys``."""
        if keys is None:
            parts = self.split(data)
            for name in self._shard_names():
                for path in self.shard_paths(name):
                    parts.setdefault(path, {})
        else:
            parts = self.split(data, {self.shard_name(key) for key in keys})
        for path, part in parts.items():
            if not part and path != self.file_path:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                self._written.pop(path, None)
                continue
            text = dumps_routes(part)
            if self._written.get(path, (None, None)) == (text, _status(path)):
                continue
            self._replace(path, text)
            self._written[path] = (text, _status(path))
        if keys is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.legacy_path)

    def _directory(self, directory):
        """``directory`` in the store, made once as 2770: traefik lists it (it reads the store's
        subdirectories, and stops reading every route at one it cannot list), files made in it get the
        store's group (setgid, inherited from the store), a hub that runs as another user writes in it.

        The hub's unit may neither chown (its syscall filter kills the process) nor, as root without
        capabilities, chmod a setgid bit: so the mode comes from mkdir, with the umask lowered for it
        (once per directory and process; 007 still gives nothing to others).
        """
        if directory in self._ready:
            return
        umask = os.umask(0o007)
        try:
            os.mkdir(directory, 0o770)
        except FileExistsError:
            pass
        finally:
            os.umask(umask)
        status = os.lstat(directory)
        if not stat.S_ISDIR(status.st_mode):
            raise NotADirectoryError(f"{directory} is not a directory: move it aside")
        if status.st_mode & 0o070 != 0o070:  # made by hand, or by another umask
            try:
                os.chmod(directory, stat.S_IMODE(status.st_mode) | 0o070)
            except PermissionError as error:
                logging.getLogger("JupyterHub").warning("%s: %s", directory, error)
        self._ready.add(directory)

    def _replace(self, path, text):
        for directory in {self.staging, os.path.dirname(path)} - {self.directory}:
            self._directory(directory)
        # No .yaml suffix: traefik must never load a half-written temp file.
        fd, tmp_path = tempfile.mkstemp(dir=self.staging, prefix=".rules-", suffix=".tmp")
        try:
            os.fchmod(fd, 0o640)
            if os.fstat(fd).st_gid != os.stat(self.directory).st_gid:  # traefik reads through the store's group
                raise PermissionError(f"{self.staging} does not give its files the group of {self.directory} "
                                      "(not setgid): remove it, the hub makes it again")
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp_path, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_path)


def _reconcile(data, from_shards):
    """Routes whose record, router or service is missing dropped (the hub adds them again)."""
    http = data.get("http", {})
    routes = data.get("jupyterhub", {}).get("routes", {})
    kept = {"routers": set(), "services": set()}
    for key, route in list(routes.items()):
        if route.get("router") in http.get("routers", {}) and route.get("service") in http.get("services", {}):
            kept["routers"].add(route["router"])
            kept["services"].add(route["service"])
        else:
            del routes[key]
    for kind, found in from_shards.items():
        for alias in found - kept[kind]:
            http[kind].pop(alias, None)
    return data


def _status(path):
    try:
        status = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return None
    return (status.st_mtime_ns, status.st_size)


def _merge(into, data):
    """``data``'s mappings merged into ``into`` (the route files never share a leaf)."""
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value
    return into


def write_group_readable(path, data):
    """``data`` (bytes) at ``path``, replaced atomically, 0640 (the directory's group reads it)."""
    fd, tmp_path = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".internal-", suffix=".tmp")
    try:
        os.fchmod(fd, 0o640)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp_path, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_path)


def internal_transport(directory, key_file, cert_file, ca_file):
    """traefik's serversTransport for internal_ssl, from JupyterHub's proxy-client files.

    The three files are copied into ``directory`` (the route file's, which only the hub
    writes and traefik's group reads): JupyterHub keeps them in its state directory,
    where traefik, another user, cannot read them.
    """
    copies = {}
    for kind, source in (("keyfile", key_file), ("certfile", cert_file), ("cafile", ca_file)):
        copies[kind] = os.path.join(directory, INTERNAL_FILES[kind])
        with open(source, "rb") as f:
            write_group_readable(copies[kind], f.read())
    return {"rootCAs": [copies["cafile"]],
            "certificates": [{"certFile": copies["certfile"], "keyFile": copies["keyfile"]}]}


def recent_default_certificate(cert_path, key_path):
    """A self-signed ECDSA certificate and key at these paths (the recent store's), made once, group-readable."""
    if os.path.isfile(cert_path) and os.path.isfile(key_path):
        return
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jupyterhub-recent-tier.invalid")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=36500)).sign(key, hashes.SHA256()))
    write_group_readable(key_path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    write_group_readable(cert_path, cert.public_bytes(serialization.Encoding.PEM))


# The keys of the routes a change of this task is for (_apply/_delete_dynamic_config):
# per task, as concurrent changes wait on the proxy's mutex.
_CHANGING = contextvars.ContextVar("unopinionated_jupyterhub_route_keys", default=None)


class SharedRoutesTraefikProxy(TraefikFileProviderProxy):
    """traefik's file provider, with routes that traefik's user can read, for any user name.

    The hub keeps every route in memory; every few seconds it checks that the
    route file is still the one it wrote, and writes it again if it was deleted,
    truncated or edited, so traefik gets every route back without a restart.

    Faster than upstream's defaults where a spawn waits (bench/, docs/benchmarks.md):
    traefik checks the API password's bcrypt hash on every API call, and the hub
    makes two per look for a new route; at upstream's cost 12 each call took 0.34 s.
    The password is random (or a site's, of at least 16 characters) and only the hub
    and traefik read the hash, so cost 4 (the least) gives nothing away. The hash on
    disk is replaced at every start (upstream keeps the first one it ever wrote, so
    a new password locked the hub out of traefik). Changes made while a write is
    pending go out in one write, and a new route is looked for after 10 ms, not 0.2 s.

    With a recent tier (recent_url; jupyterhub_proxy_recent_tier), the hub keeps the same
    routes in memory and writes each to one of two stores: a new route (and the hub's own)
    to the recent traefik's, read by a traefik that holds a few dozen routes; a batch of
    them (compact_routes, or the oldest after compact_seconds) is written to the main store,
    and removed from the recent one once the main traefik serves every route of it. A route
    the main tier has (an update) stays there. Either store is read back at a start, so
    routes survive restarts of either traefik and of the hub; a route in both (a move cut
    short) is the recent tier's. Ready means served by the traefik whose store holds the
    route, and, for a route just deleted from the main store, gone from the main traefik.
    """

    compress = Bool(True, config=True, help="Compress text responses of every route (hub_route_compression).")
    recent_url = Unicode("", config=True, help="""The recent tier's traefik (its entry point, plain HTTP on loopback).

        Empty: one traefik holds every route. Otherwise a new route is written to the recent
        tier's store (recent_config_file), which holds few routes, so traefik's rebuild of every
        router takes milliseconds; routes are moved to the main store in batches (compact_routes,
        compact_seconds). The hub's own route ("/" or "host/") stays in the recent tier: the main
        traefik passes it whatever no route of its own matches.""")
    recent_api_url = Unicode("", config=True, help="The recent tier's traefik API (the same user and password).")
    recent_config_file = Unicode("", config=True, help="The recent tier's route store (its rules.yaml).")
    compact_routes = Integer(50, config=True, help="Move the recent tier's routes to the main one at this many.")
    compact_seconds = Float(30.0, config=True, help="... or when the oldest has been there this long.")
    route_file_check_seconds = 5
    _route_write = None  # the pending write of the route files (a future)
    _write_keys = None  # the routes' keys the pending write is for; None: everything
    _compaction = None  # the running move of routes to the main tier (a task)

    def __init__(self, **kwargs):
        # Route keys in the recent tier (-> when they came), those being moved (in both tiers),
        # and those deleted from the main tier whose router traefik may still have.
        self._recent, self._moving, self._left_main = {}, set(), set()
        super().__init__(**kwargs)

    @property
    def tiered(self):
        return bool(self.recent_url)

    @property
    def recent_token(self):
        """What the main traefik adds to every request it passes to the recent one (RECENT_HEADER)."""
        return hmac.new(self.traefik_api_password.encode(), b"recent-tier", hashlib.sha256).hexdigest()

    @property
    def recent_handler(self):
        if getattr(self, "_recent_handler", None) is None:
            # One shard: it holds a few routes and the hub's, so it is never emptied (and removed: traefik,
            # reading the store for another file's change, then logs that it could not open it).
            self._recent_handler = GroupReadableRoutes(self.recent_config_file, shards=1)
        return self._recent_handler

    @property
    def _recent_certificate(self):
        """The recent traefik's default certificate and key (RECENT_CERT), in its store."""
        directory = os.path.dirname(os.path.abspath(self.recent_config_file))
        return tuple(os.path.join(directory, name) for name in RECENT_CERT)

    @staticmethod
    def _pinned(route):
        """The hub's own route ("/", "host/"): it stays in the recent tier, behind every other."""
        return not route["routespec"].partition("/")[2]

    @default("dynamic_config")
    def _load_both_tiers(self):
        config = super()._load_dynamic_config()
        if not self.tiered:
            return config
        routes, http = config["jupyterhub"]["routes"], config["http"]
        recent = self.recent_handler.load()
        recent_routes = recent.get("jupyterhub", {}).get("routes", {})
        for key, route in recent_routes.items():
            routes[key] = route
            for kind in ("routers", "services"):
                http[kind][route[kind[:-1]]] = recent["http"][kind][route[kind[:-1]]]
        now = time.monotonic()
        for key, route in routes.items():  # a route in both (a move cut short) is served by the recent tier
            if key in recent_routes or self._pinned(route):
                self._recent[key] = now
        return config

    @validate("traefik_api_password")
    def _bcrypt_length(self, proposal):
        """bcrypt reads 72 bytes at most: a longer password got no new hash, and traefik kept the old one,
        so the hub started and every spawn failed after check_route_timeout (401 from traefik's API)."""
        if len(proposal["value"].encode()) > 72:
            raise TraitError(
                "the traefik API password (hub_proxy_api_password; STATE/proxy_api_password on the host) is "
                f"{len(proposal['value'].encode())} bytes: bcrypt, which traefik checks it with, takes 72 at most")
        return proposal["value"]

    @default("traefik_api_hashed_password")
    def _cheap_hash(self):
        return bcrypt.hashpw(self.traefik_api_password.encode(), bcrypt.gensalt(rounds=4)).decode()

    @property
    def origin_token(self):
        """What traefik adds to every request for the hub (ORIGIN_HEADER), from the API password."""
        return hmac.new(self.traefik_api_password.encode(), b"hub-origin", hashlib.sha256).hexdigest()

    def _secure_router(self, router, routespec, data):
        """Our rule for any name; the hub's own route goes through hub-origin; compression."""
        router["rule"] = route_rule(routespec)
        middlewares = ["hub-origin"] if (data or {}).get("hub") else []
        if self.compress:
            middlewares.append(COMPRESS)
        if middlewares:
            router["middlewares"] = middlewares
        else:
            router.pop("middlewares", None)

    @property
    def internal_ssl(self):
        return bool(getattr(self.app, "internal_ssl", False))

    def _set_transport(self, balancer):
        """An https service goes through the internal transport with internal_ssl, any other not."""
        if self.internal_ssl and any(s.get("url", "").startswith("https://") for s in balancer.get("servers", [])):
            balancer["serversTransport"] = INTERNAL_TRANSPORT
        else:
            balancer.pop("serversTransport", None)

    def _dynamic_config_for_route(self, routespec, target, data):
        traefik_config, jupyterhub_config = super()._dynamic_config_for_route(routespec, target, data)
        for router in traefik_config["http"]["routers"].values():
            self._secure_router(router, routespec, data)
        for service in traefik_config["http"]["services"].values():
            self._set_transport(service["loadBalancer"])
        return traefik_config, jupyterhub_config

    async def _setup_traefik_dynamic_config(self):
        # At every start: the API credential and hub-origin follow the API password,
        # and routes read back from the file (an earlier release's rules) get ours.
        http = self.dynamic_config.setdefault("http", {})
        middlewares = http.setdefault("middlewares", {})
        middlewares.pop("auth_api", None)
        middlewares["hub-origin"] = {"headers": {"customRequestHeaders": {ORIGIN_HEADER: self.origin_token}}}
        middlewares.pop(COMPRESS, None)
        if self.compress:
            middlewares[COMPRESS] = {"compress": {"includedContentTypes": COMPRESSED_TYPES}}
        for route in self.dynamic_config.get("jupyterhub", {}).get("routes", {}).values():
            router = http.get("routers", {}).get(route.get("router"))
            if router is not None and route.get("routespec"):
                self._secure_router(router, route["routespec"], route.get("data"))
        # traefik refuses a route file with an empty serversTransports (and every route in it).
        transports = http.pop("serversTransports", {})
        transports.pop(INTERNAL_TRANSPORT, None)
        if self.internal_ssl:
            client = self.app.internal_proxy_certs["proxy-client"]
            transports[INTERNAL_TRANSPORT] = internal_transport(
                os.path.dirname(os.path.abspath(self.dynamic_config_file)), client["keyfile"], client["certfile"],
                self.app.internal_trust_bundles["proxy-client-ca"])
        if transports:
            http["serversTransports"] = transports
        if self.tiered:
            recent_default_certificate(*self._recent_certificate)
        for service in http.get("services", {}).values():  # routes read back: today's transport
            self._set_transport(service.get("loadBalancer", {}))
        await super()._setup_traefik_dynamic_config()

    def _persist_dynamic_config(self):
        # Within a route change, only its routes' shards are written; from anywhere
        # else (the start, a repair), everything.
        if self._route_write is None or self._route_write.done():
            loop = asyncio.get_running_loop()
            self._route_write = loop.create_future()
            self._write_keys = set()
            loop.call_soon(self._write_routes, self._route_write)
        changing = _CHANGING.get()
        if changing is None or self._write_keys is None:
            self._write_keys = None
        else:
            self._write_keys.update(changing)
        return self._route_write

    def _write_routes(self, written):
        keys, self._write_keys = self._write_keys, set()
        try:
            if not self.tiered:
                self.dynamic_config_handler.atomic_dump(self.dynamic_config, keys)
            else:  # the recent tier first: the main one may pass it a route it no longer has itself
                self.recent_handler.atomic_dump(self._recent_view(), keys)
                main_keys = keys if keys is None else {k for k in keys if k not in self._recent or k in self._moving}
                if main_keys is None or main_keys:
                    self.dynamic_config_handler.atomic_dump(self._main_view(), main_keys)
        except Exception as error:
            written.set_exception(error)
        else:
            written.set_result(None)

    async def _apply_dynamic_config(self, traefik_config, jupyterhub_config=None):
        token = _CHANGING.set(set(jupyterhub_config.get("routes", {})) if jupyterhub_config else None)
        try:
            await super()._apply_dynamic_config(traefik_config, jupyterhub_config)
        finally:
            _CHANGING.reset(token)
        await asyncio.shield(self._route_write)

    async def _delete_dynamic_config(self, traefik_keys, jupyterhub_keys):
        token = _CHANGING.set({path[-1] for path in jupyterhub_keys})
        try:
            await super()._delete_dynamic_config(traefik_keys, jupyterhub_keys)
        finally:
            _CHANGING.reset(token)
        await asyncio.shield(self._route_write)

    def _main_view(self):
        """What the main traefik reads: every route but the recent tier's, and the way to the recent tier."""
        config = self.dynamic_config
        routes, http = config["jupyterhub"]["routes"], dict(config["http"])
        hidden = {k for k in self._recent if k not in self._moving and k in routes}
        for kind in ("routers", "services"):
            aliases = {routes[k][kind[:-1]] for k in hidden}
            http[kind] = {alias: v for alias, v in http.get(kind, {}).items() if alias not in aliases}
        http["routers"][TO_RECENT] = {"rule": "PathPrefix(`/`)", "priority": 1, "service": TO_RECENT,
                                      "entryPoints": [self.traefik_entrypoint], "middlewares": [TO_RECENT]}
        http["services"][TO_RECENT] = {"loadBalancer": {"servers": [{"url": self.recent_url}], "passHostHeader": True}}
        http["middlewares"] = {**http.get("middlewares", {}),
                               TO_RECENT: {"headers": {"customRequestHeaders": {RECENT_HEADER: self.recent_token}}}}
        return {**config, "http": http,
                "jupyterhub": {**config["jupyterhub"], "routes": {k: v for k, v in routes.items() if k not in hidden}}}

    def _recent_view(self):
        """What the recent traefik reads: its routes, each only for requests the main traefik passed on."""
        config = self.dynamic_config
        routes, http = config["jupyterhub"]["routes"], config["http"]
        view = {"routers": {}, "services": {}, "middlewares": {
            **http.get("middlewares", {}), RECENT_STRIP: {"headers": {"customRequestHeaders": {RECENT_HEADER: ""}}}}}
        if "route_api" in http.get("routers", {}):  # the API, on the recent traefik's own loopback entry point
            view["routers"]["route_api"] = http["routers"]["route_api"]
        if http.get("serversTransports"):
            view["serversTransports"] = http["serversTransports"]
        cert, key = self._recent_certificate
        kept = {k: routes[k] for k in self._recent if k in routes}
        matcher = "Header(%s, %s) && " % (go_string(RECENT_HEADER), go_string(self.recent_token))
        for route in kept.values():
            router = dict(http["routers"][route["router"]])
            router["rule"] = matcher + router["rule"]
            router["middlewares"] = [RECENT_STRIP, *router.get("middlewares", [])]
            view["routers"][route["router"]] = router
            view["services"][route["service"]] = http["services"][route["service"]]
        return {"http": view, "jupyterhub": {"routes": kept},
                "tls": {"stores": {"default": {"defaultCertificate": {"certFile": cert, "keyFile": key}}}}}

    async def add_route(self, routespec, target, data):
        """A new route (and the hub's own, always) goes to the recent tier; one the main tier has stays there."""
        if self.tiered:
            routespec = self.validate_routespec(routespec)
            key = traefik_utils.generate_alias(routespec, "router")
            routes = self.dynamic_config["jupyterhub"]["routes"]
            if key not in routes or key in self._recent or self._pinned({"routespec": routespec}):
                self._recent.setdefault(key, time.monotonic())
        await super().add_route(routespec, target, data)
        if self.tiered:
            self._compact_when_due()

    async def delete_route(self, routespec):
        if self.tiered:
            key = traefik_utils.generate_alias(self.validate_routespec(routespec), "router")
            if key not in self._recent or key in self._moving:
                self._left_main.add(key)
            self._recent.pop(key, None)
            self._moving.discard(key)
        await super().delete_route(routespec)

    def _compact_when_due(self):
        """Start moving the recent tier's routes to the main one when there are compact_routes or one is old."""
        if self._compaction is not None and not self._compaction.done():
            return
        routes = self.dynamic_config["jupyterhub"]["routes"]
        movable = {k: t for k, t in self._recent.items() if k in routes and not self._pinned(routes[k])}
        if movable and (len(movable) >= self.compact_routes
                        or time.monotonic() - min(movable.values()) >= self.compact_seconds):
            self._compaction = asyncio.ensure_future(self._compact(set(movable)))

    async def _persist_keys(self, keys):
        async with self.mutex:
            token = _CHANGING.set(keys)
            try:
                written = self._persist_dynamic_config()
            finally:
                _CHANGING.reset(token)
        await asyncio.shield(written)

    async def _compact(self, keys):
        """The routes ``keys`` written to the main tier, then, once the main traefik serves them all,
        removed from the recent one; if it does not, within check_route_timeout, they stay where they were."""
        self._moving |= keys
        try:
            moved = await self._move(keys)
        except Exception:  # a write that failed: the routes stay in the recent tier, the next try writes again
            self.log.exception("moving %d routes to the main tier", len(keys))
            moved = set()
        for key in keys:
            self._moving.discard(key)
            if key in moved:
                self._recent.pop(key, None)
        await self._persist_keys(keys)
        self.log.info("moved %d routes to the main tier, %d stay in the recent one", len(moved), len(self._recent))

    async def _move(self, keys):
        """The routes ``keys`` that the main traefik serves, once written to its store."""
        await self._persist_keys(keys)
        waiting = set(keys)

        async def in_main():
            waiting.intersection_update(self._moving)  # deleted meanwhile: nothing to wait for
            statuses = await asyncio.gather(*(self._router_status(self.dynamic_config["jupyterhub"]["routes"][k]
                                                                  ["routespec"]) for k in sorted(waiting)))
            if "disabled" in statuses:
                raise RuntimeError("the main traefik disabled a router the recent one serves: see its journal")
            waiting.difference_update(k for k, status in zip(sorted(waiting), statuses) if status is not None)
            return not waiting

        try:
            await exponential_backoff(in_main, "the main traefik to serve the routes moved to it",
                                      start_wait=0.05, max_wait=1, timeout=self.check_route_timeout)
        except (TimeoutError, RuntimeError) as error:
            self.log.warning("%d routes stay in the recent tier: %s", len(waiting), error)
        return keys - waiting

    async def _router_status(self, routespec, api_url=None):
        """traefik's status of the route's router ("enabled", "warning", "disabled"), None while it has none.

        The main traefik's, or the one at ``api_url`` (the recent tier's).
        """
        alias = traefik_utils.generate_alias(self.validate_routespec(routespec), "router")
        path = f"/api/http/routers/{alias}@{self.provider_name}"
        try:
            if api_url is None:
                response = await self._traefik_api_request(path)
            else:
                response = await AsyncHTTPClient().fetch(
                    url_path_join(api_url, path), auth_username=self.traefik_api_username,
                    auth_password=self.traefik_api_password, validate_cert=self.traefik_api_validate_cert)
        except HTTPClientError as error:
            if error.code != 404:
                self.log.warning("traefik's API on the router for %s: %s", routespec, error)
            return None
        return json.loads(response.body).get("status")

    async def _wait_for_route(self, routespec):
        """Until traefik serves the route: one API call per look (upstream makes two).

        Its router and service are in one file, which traefik loads whole: a router in the
        API has its service. A router traefik disabled (a rule or middleware it could not build)
        would never serve: the wait fails at once, naming it, where upstream (which only looks whether
        the router and service are listed) took it as ready ("warning" serves, on part of its entry points).
        """
        key = traefik_utils.generate_alias(self.validate_routespec(routespec), "router")

        async def registered():
            # Asked at each look: a move may take the route to the main tier meanwhile (which serves
            # it before the recent one lets it go).
            recent = self.tiered and key in self._recent
            status = await self._router_status(routespec, self.recent_api_url if recent else None)
            if status == "disabled":
                raise RuntimeError(f"traefik disabled the router of {routespec}: see its journal")
            if status is None:
                return False
            if recent and key in self._left_main:  # the main traefik must not still have the route's old router
                if await self._router_status(routespec) is not None:
                    return False
                self._left_main.discard(key)
            return True

        await exponential_backoff(registered, f"Traefik route for {routespec}: not ready",
                                  start_wait=0.01, scale_factor=1.5, max_wait=0.05,
                                  timeout=self.check_route_timeout)

    @default("dynamic_config_handler")
    def _default_handler(self):
        return GroupReadableRoutes(self.dynamic_config_file)

    @observe("dynamic_config_file")
    def _set_dynamic_config_file(self, change):
        self.dynamic_config_handler = GroupReadableRoutes(self.dynamic_config_file)

    async def check_routes(self, *args, **kwargs):
        # Upstream awaits its start (the route store set up, traefik's API reached) only while it runs:
        # a start that failed before this, the hub's first look at the routes, was skipped, and the hub
        # ran with routes traefik never got (an unwritable store, a password bcrypt refused). The
        # failure stops the hub here, with its error.
        if self._start_future is not None:
            await self._start_future
        result = await super().check_routes(*args, **kwargs)
        if getattr(self, "_route_file_watch", None) is None:
            self._route_file_watch = PeriodicCallback(
                self._repair_route_file, self.route_file_check_seconds * 1000
            )
            self._route_file_watch.start()
        return result

    async def _repair_route_file(self):
        if self.tiered:
            self._compact_when_due()
        handlers = [self.dynamic_config_handler, self.recent_handler] if self.tiered else [self.dynamic_config_handler]
        if all(h.intact() for h in handlers) or not self.dynamic_config["jupyterhub"]["routes"]:
            return
        self.log.warning(
            "a route file in %s was deleted or changed behind the hub's back: writing it again",
            os.path.dirname(os.path.abspath(self.dynamic_config_file)),
        )
        async with self.mutex:
            written = self._persist_dynamic_config()
        await written
