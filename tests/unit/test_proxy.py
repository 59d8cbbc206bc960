"""The route writer (roles/hub/files/unopinionated_jupyterhub_proxy.py) against hostile user names.

The last tests run the hub's real proxy class against a real traefik: every user's
URL reaches that user's server and nothing else, /hub/ keeps reaching the hub, and
so it stays after traefik restarts and reads the route file anew.
"""

import asyncio
import json
import os
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
import yaml
from traitlets import TraitError
from conftest import HOSTILE_NAMES, wait_until
from jupyterhub.utils import url_escape_path

import unopinionated_jupyterhub_proxy as proxy_module
from unopinionated_jupyterhub_proxy import GroupReadableRoutes, SharedRoutesTraefikProxy, dumps_routes, route_rule

GO_STRING = r'"((?:[^"\\]|\\(?:["\\]|u[0-9a-f]{4}|U[0-9a-f]{8}))*)"'


def go_unquote(body):
    return re.sub(r'\\(["\\]|u[0-9a-f]{4}|U[0-9a-f]{8})',
                  lambda m: m.group(1) if len(m.group(1)) == 1 else chr(int(m.group(1)[1:], 16)), body)


def routespec(name):
    return f"/user/{url_escape_path(name)}/"


def as_traefik_matches(name):
    """The user's path as traefik 3 matches it: reserved characters and % encoded, the rest not."""
    return "".join("%%%02X" % ord(c) if c in "!#$%&'()*+,:;=?[]" else c for c in name)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_a_rule_is_two_go_strings_that_hold_exactly_the_users_prefix(name):
    rule = route_rule(routespec(name))
    match = re.fullmatch(r"\( PathPrefix\(%s\) \|\| Path\(%s\) \)" % (GO_STRING, GO_STRING), rule)
    assert match, rule
    assert go_unquote(match.group(1)) == f"/user/{as_traefik_matches(name)}/"
    assert go_unquote(match.group(2)) == f"/user/{as_traefik_matches(name)}"
    assert re.fullmatch(r"[\x20-\x7e]*", rule), "only printable ASCII reaches traefik's rule parser"


def test_host_routes_keep_upstreams_matchers():
    assert route_rule("/") == 'PathPrefix("/")'
    assert route_rule("hub.example.org/user/a%60/") == (
        'Host("hub.example.org") && ( PathPrefix("/user/a`/") || Path("/user/a`") )')
    # Escapes as clients send them, lower case too; a byte that is not UTF-8 stays escaped.
    assert proxy_module.traefik_path("/user/%c3%a9%2a%2525%ff@/") == "/user/\u00e9%2A%2525%FF@/"
    with pytest.raises(ValueError, match="must end with /"):
        route_rule("/user/a")


def test_go_string_escapes_what_go_refuses_raw_and_replaces_surrogates():
    assert proxy_module.go_string('a"\\\n\x85\u2028\U0001f600\ud800') == (
        '"a\\"\\\\\\u000a\\u0085\\u2028\\U0001f600\\ufffd"')


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_the_route_file_has_no_template_action_and_reads_back_the_same(name):
    data = {"jupyterhub": {"routes": {"router_x": {"routespec": routespec(name), "data": {"user": name}}}},
            "http": {"routers": {"router_x": {"rule": route_rule(routespec(name))}}}}
    text = dumps_routes(data)
    assert "{{" not in text
    assert not re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", text)
    assert json.loads(text) == data  # the hub reads it back with json
    assert yaml.safe_load(text) == data  # traefik reads it as YAML


def test_braces_everywhere_and_structure_around_them():
    data = {"{{": ["}}", "{", "{{{", {"a{": {"{{b": {}}}], "": {}}
    text = dumps_routes(data)
    assert "{{" not in text and json.loads(text) == data and yaml.safe_load(text) == data


def test_a_route_file_that_does_not_parse_is_moved_aside_and_read_as_empty(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text('{"http": ')
    assert GroupReadableRoutes(str(path)).load() == {}
    assert (tmp_path / "rules.yaml.corrupt").read_text() == '{"http": '
    assert not path.exists()


def test_a_route_file_that_is_a_link_the_hub_cannot_read_is_moved_aside_not_followed(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "rules.yaml").symlink_to(tmp_path / "elsewhere")
    assert GroupReadableRoutes(str(tmp_path / "rules.yaml")).load() == {}
    assert (tmp_path / "rules.yaml.corrupt").is_symlink() and (tmp_path / "elsewhere").is_dir()


def test_the_route_file_is_written_group_readable_and_replaces_the_legacy_toml(tmp_path):
    (tmp_path / "rules.toml").write_text('[http.routers.router_a]\nrule = "PathPrefix(`/a/`)"\n')
    handler = GroupReadableRoutes(str(tmp_path / "rules.yaml"))
    legacy = handler.load()
    assert legacy["http"]["routers"]["router_a"]["rule"] == "PathPrefix(`/a/`)"
    handler.atomic_dump(legacy)
    assert (tmp_path / "rules.yaml").stat().st_mode & 0o777 == 0o640
    assert not (tmp_path / "rules.toml").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [".staging", "rules.yaml"]
    assert not os.listdir(tmp_path / ".staging")  # no temp file left
    assert (tmp_path / ".staging").stat().st_mode & 0o777 == 0o770  # and setgid where the store is (the role's)
    assert handler.load() == legacy


def store(routes, extra_http=None):
    """A dynamic config as the hub's proxy class keeps it: {name: target} routes, and the API's router."""
    config = {"http": {"routers": {"route_api": {"rule": "PathPrefix(`/api`)", "service": "api@internal"}},
                       "services": {}, "middlewares": {"hub-origin": {"headers": {}}}, **(extra_http or {})},
              "jupyterhub": {"routes": {}}}
    for name, target in routes.items():
        spec = routespec(name)
        alias = "router_" + url_escape_path(spec).replace("/", "_")
        config["http"]["routers"][alias] = {"rule": route_rule(spec), "service": "service_" + alias}
        config["http"]["services"]["service_" + alias] = {"loadBalancer": {"servers": [{"url": target}]}}
        config["jupyterhub"]["routes"][alias] = {"routespec": spec, "target": target, "data": {"user": name},
                                                 "router": alias, "service": "service_" + alias}
    return config


def files(directory):
    return {str(p.relative_to(directory)): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in directory.rglob("*") if p.is_file()}


def test_routes_are_sharded_and_traefik_reads_no_record_of_the_hubs(tmp_path):
    config = store({f"u{i}": f"http://127.0.0.1:{9000 + i}" for i in range(200)} | {n: "http://h" for n in HOSTILE_NAMES})
    handler = GroupReadableRoutes(str(tmp_path / "rules.yaml"), shards=8)
    handler.atomic_dump(config)
    shards = sorted(p.name for p in tmp_path.glob("rules-*.yaml"))
    assert shards == [f"rules-{i:02d}.yaml" for i in range(8)]
    assert sorted(p.name for p in (tmp_path / ".records").iterdir()) == [s[:-5] + ".json" for s in shards]
    for shard in shards:  # traefik's files: routers and services only, each shard a fair share
        part = yaml.safe_load((tmp_path / shard).read_text())
        assert set(part) == {"http"} and set(part["http"]) == {"routers", "services"}
        assert 10 < len(part["http"]["routers"]) < 50
    common = json.loads((tmp_path / "rules.yaml").read_text())
    assert set(common["http"]["routers"]) == {"route_api"} and "jupyterhub" not in common
    assert not list((tmp_path / ".staging").iterdir())
    assert GroupReadableRoutes(str(tmp_path / "rules.yaml"), shards=8).load() == config


def test_a_route_change_rewrites_only_its_shard(tmp_path):
    config = store({f"u{i}": "http://127.0.0.1:9000" for i in range(100)})
    handler = GroupReadableRoutes(str(tmp_path / "rules.yaml"), shards=8)
    handler.atomic_dump(config)
    before = files(tmp_path)
    new = store({"newcomer": "http://127.0.0.1:9999"})
    key = next(iter(new["jupyterhub"]["routes"]))
    for kind in ("routers", "services"):
        config["http"][kind].update(new["http"][kind])
    config["jupyterhub"]["routes"][key] = new["jupyterhub"]["routes"][key]
    handler.atomic_dump(config, {key})
    after = files(tmp_path)
    changed = sorted(name for name in after if after[name] != before.get(name))
    shard = handler.shard_name(key)
    assert changed == [f".records/{shard}.json", f"{shard}.yaml"]
    assert GroupReadableRoutes(str(tmp_path / "rules.yaml"), shards=8).load() == config
    # Nothing changed: nothing written, even for a full write.
    handler.atomic_dump(config)
    assert files(tmp_path) == after


def test_a_shard_whose_last_route_goes_is_removed(tmp_path):
    config = store({"alone": "http://127.0.0.1:9000"})
    handler = GroupReadableRoutes(str(tmp_path / "rules.yaml"), shards=8)
    handler.atomic_dump(config)
    key = next(iter(config["jupyterhub"]["routes"]))
    shard = handler.shard_name(key)
    assert (tmp_path / f"{shard}.yaml").exists()
    alias = config["jupyterhub"]["routes"].pop(key)
    del config["http"]["routers"][alias["router"]], config["http"]["services"][alias["service"]]
    handler.atomic_dump(config, {key})
    assert not (tmp_path / f"{shard}.yaml").exists() and not (tmp_path / ".records" / f"{shard}.json").exists()
    loaded = GroupReadableRoutes(str(tmp_path / "rules.yaml")).load()  # empty sections are never written
    assert loaded["http"] == {k: v for k, v in config["http"].items() if v} and "jupyterhub" not in loaded


def test_a_route_half_written_or_in_a_corrupt_shard_is_dropped_so_the_hub_adds_it_again(tmp_path):
    config = store({f"u{i}": "http://127.0.0.1:9000" for i in range(40)})
    handler = GroupReadableRoutes(str(tmp_path / "rules.yaml"), shards=4)
    handler.atomic_dump(config)
    keys = sorted(config["jupyterhub"]["routes"])
    # A hub stopped between a route's record and its router: the record alone.
    recorded_only = keys[0]
    shard = handler.shard_name(recorded_only)
    part = json.loads((tmp_path / f"{shard}.yaml").read_text())
    route = config["jupyterhub"]["routes"][recorded_only]
    del part["http"]["routers"][route["router"]]
    (tmp_path / f"{shard}.yaml").write_text(json.dumps(part))
    # A corrupt record file: its shard's routers and services are served by nobody's record.
    corrupt = next(name for name in (handler.shard_name(k) for k in keys) if name != shard)
    (tmp_path / ".records" / f"{corrupt}.json").write_text("{{ .Env.HOME }}")
    loaded = GroupReadableRoutes(str(tmp_path / "rules.yaml"), shards=4).load()
    kept = {k for k in keys if k != recorded_only and handler.shard_name(k) != corrupt}
    assert set(loaded["jupyterhub"]["routes"]) == kept
    assert set(loaded["http"]["routers"]) == {"route_api"} | {config["jupyterhub"]["routes"][k]["router"] for k in kept}
    assert set(loaded["http"]["services"]) == {config["jupyterhub"]["routes"][k]["service"] for k in kept}
    assert (tmp_path / ".records" / f"{corrupt}.json.corrupt").exists()


def test_a_planted_link_in_the_store_is_replaced_never_followed(tmp_path):
    target = tmp_path / "outside"
    target.write_text("kept")
    routes = tmp_path / "routes"
    routes.mkdir()
    config = store({"u": "http://127.0.0.1:9000"})
    handler = GroupReadableRoutes(str(routes / "rules.yaml"), shards=1)
    (routes / "rules-00.yaml").symlink_to(target)
    (routes / ".records").mkdir()
    (routes / ".records" / "rules-00.json").symlink_to(target)
    handler.atomic_dump(config)
    assert target.read_text() == "kept"
    assert not (routes / "rules-00.yaml").is_symlink() and not (routes / ".records" / "rules-00.json").is_symlink()
    assert GroupReadableRoutes(str(routes / "rules.yaml"), shards=1).load() == config


class Backend(ThreadingHTTPServer):
    """A server that answers every request with its name and the route traefik chose."""

    def __init__(self, name):
        self.name = name
        answer = self.answer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                headers, body = answer(self)
                self.send_response(200)
                for header, value in headers.items():
                    self.send_header(header, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server_address[1]
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def answer(self, request):
        """(headers, body) for a GET (request: the BaseHTTPRequestHandler)."""
        return {}, json.dumps({"backend": self.name, "route": request.headers.get("X-Route"),
                               "origin": request.headers.get(proxy_module.ORIGIN_HEADER),
                               "real_ip": request.headers.get("X-Real-Ip"),
                               "tier": request.headers.get(proxy_module.RECENT_HEADER)}).encode()


def hub_proxy(traefik, password="p" * 32):
    """The hub's proxy class as the base config makes it (roles/hub/templates), on this traefik."""
    return SharedRoutesTraefikProxy(
        should_start=False, dynamic_config_file=str(traefik.routes / "rules.yaml"),
        traefik_api_url=f"http://127.0.0.1:{traefik.api_port}", traefik_api_username="jupyterhub",
        traefik_api_password=password, traefik_entrypoint="https", check_route_timeout=20)


def reached(traefik, path, key="backend"):
    response = traefik.get(path)
    if response.status_code != 200:
        return response.status_code
    return response.json()[key]


# Every printable ASCII character but "/" (JupyterHub refuses it), and a few beyond.
CHARACTERS = [chr(c) for c in range(0x20, 0x7F) if c != 0x2F] + ["\n", "\x85", "\u2028", "\u00e9", "\U0001f600"]


def test_traefik_matches_each_character_of_a_name_as_route_rule_writes_it(traefik):
    # One route per character (name "n<c>z"), written as the hub writes the route
    # file; each router tags the request, so the backend tells which rule matched.
    users, hub = Backend("users"), Backend("hub")
    routers, middlewares = {}, {}
    for c in CHARACTERS:
        alias = "r%x" % ord(c)
        routers[alias] = {"rule": route_rule(routespec(f"n{c}z")), "service": "users",
                          "entryPoints": ["https"], "middlewares": [alias]}
        middlewares[alias] = {"headers": {"customRequestHeaders": {"X-Route": alias}}}
    routers["hub"] = {"rule": route_rule("/"), "service": "hub", "entryPoints": ["https"]}
    services = {"users": {"loadBalancer": {"servers": [{"url": users.url}]}},
                "hub": {"loadBalancer": {"servers": [{"url": hub.url}]}}}
    GroupReadableRoutes(str(traefik.routes / "rules.yaml")).atomic_dump(
        {"http": {"routers": routers, "services": services, "middlewares": middlewares}})
    wait_until(lambda: reached(traefik, "/user/nAz/") == "users", what="traefik to load the routes")
    wrong = {c: reached(traefik, routespec(f"n{c}z") + "lab", "route") for c in CHARACTERS}
    wrong = {c: got for c, got in wrong.items() if got != "r%x" % ord(c)}
    # "." makes "n.z", an ordinary name; ".." alone is sanitized away by traefik (below).
    assert wrong == {}, wrong


def test_hostile_names_reach_only_their_own_server_through_a_real_traefik(traefik):
    backends = {name: Backend(name) for name in ["hub", "victim", *HOSTILE_NAMES]}

    async def add_every_route():
        proxy = hub_proxy(traefik)
        await proxy.add_route("/", backends["hub"].url, {"hub": True})
        # A burst, as when many users start at once: each waits until traefik's API lists it.
        await asyncio.gather(
            proxy.add_route(routespec("victim"), backends["victim"].url, {"user": "victim"}),
            *(proxy.add_route(routespec(n), backends[n].url, {"user": n, "server_name": ""})
              for n in HOSTILE_NAMES))
        return await proxy.get_all_routes()

    routes = asyncio.run(add_every_route())
    assert set(routes) == {"/", routespec("victim"), *(routespec(n) for n in HOSTILE_NAMES)}
    assert routes[routespec("bob{{")]["data"]["user"] == "bob{{"

    def every_url_reaches_its_own_target():
        assert reached(traefik, "/hub/login") == "hub"
        assert reached(traefik, "/user/victim/lab") == "victim"
        assert reached(traefik, "/user/victim") == "victim"
        assert reached(traefik, "/user/other/lab") == "hub"
        got = {name: reached(traefik, routespec(name) + "lab") for name in HOSTILE_NAMES}
        # traefik removes ".." segments (sanitizePath): that user's URLs reach the hub.
        assert got == {name: "hub" if name == ".." else name for name in HOSTILE_NAMES}
        return True

    every_url_reaches_its_own_target()
    # traefik vouches for the client address on requests for the hub (and only those),
    # whatever a client sends in the same header.
    forged = {proxy_module.ORIGIN_HEADER: "forged"}
    token = SharedRoutesTraefikProxy(traefik_api_password="p" * 32).origin_token
    assert traefik.get("/hub/login", headers=forged).json()["origin"] == token
    assert traefik.get("/user/victim/lab", headers=forged).json()["origin"] == "forged"
    assert " ERR " not in traefik.log.read_text().replace("\x1b[31mERR\x1b[0m", " ERR ")

    # A restarted traefik reads the route file as the hub wrote it: every route back.
    traefik.stop()
    traefik.start()
    wait_until(lambda: reached(traefik, "/user/victim/lab") == "victim", what="the routes after a restart")
    every_url_reaches_its_own_target()


def test_routes_an_earlier_release_wrote_get_todays_rules_when_the_hub_starts(traefik):
    # A host converged before this fix has upstream's rules on disk; the hub reads them back.
    hub, mallory = Backend("hub"), Backend("mallory")
    name = "x`)||PathRegexp(`.*"
    legacy = {"http": {"routers": {}, "services": {}}, "jupyterhub": {"routes": {}}}
    for number, (spec, path, backend, data) in enumerate(
            (("/", "/", hub, {"hub": True}), (routespec(name), f"/user/{name}/", mallory, {"user": name}))):
        alias, service = f"router__{number}", f"service__{number}"
        legacy["http"]["routers"][alias] = {"rule": f"PathPrefix(`{path}`)", "service": service,
                                            "entryPoints": ["https"]}
        legacy["http"]["services"][service] = {"loadBalancer": {"servers": [{"url": backend.url}]}}
        legacy["jupyterhub"]["routes"][alias] = {"routespec": spec, "target": backend.url, "data": data,
                                                 "router": alias, "service": service}
    (traefik.routes / "rules.yaml").write_text(json.dumps(legacy))
    wait_until(lambda: reached(traefik, "/hub/login") == "mallory", what="the legacy hijack to be live")

    async def start():
        await hub_proxy(traefik)._start_future

    asyncio.run(start())
    wait_until(lambda: reached(traefik, "/hub/login") == "hub", what="the hub to take its URLs back")
    assert reached(traefik, routespec(name) + "lab") == "mallory"


class TLSBackend(Backend):
    """A server like a user's with JupyterHub's internal_ssl: TLS, and a client certificate required."""

    def __init__(self, name, key, cert, client_ca):
        super().__init__(name)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_cert_chain(cert, key)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.url = self.url.replace("http://", "https://")


@pytest.mark.parametrize("tiers", [1, 2])
def test_with_internal_ssl_traefik_reaches_servers_over_tls_with_jupyterhubs_certificates(traefik, tmp_path, tiers,
                                                                                          request):
    # With a recent tier (tiers=2) the routes are the recent traefik's, reached through the main one.
    from certipy import Certipy

    certipy = Certipy(store_dir=str(tmp_path / "internal-ssl"))
    for ca in ("hub-ca", "notebooks-ca", "proxy-client-ca", "other-ca"):
        certipy.create_ca(ca)
    bundles = certipy.trust_from_graph({"proxy-client-ca": ["hub-ca", "notebooks-ca"],
                                        "notebooks-ca": ["hub-ca", "proxy-client-ca"]})
    local = ["IP:127.0.0.1", "DNS:localhost"]
    client = certipy.create_signed_pair("proxy-client", "proxy-client-ca", alt_names=local)["files"]
    alice = certipy.create_signed_pair("user-alice", "notebooks-ca", alt_names=local)["files"]
    forged = certipy.create_signed_pair("user-mallory", "other-ca", alt_names=local)["files"]
    backends = {"alice": TLSBackend("alice", alice["key"], alice["cert"], bundles["notebooks-ca"]),
                "mallory": TLSBackend("mallory", forged["key"], forged["cert"], bundles["notebooks-ca"]),
                "plain": Backend("plain")}
    app = SimpleNamespace(internal_ssl=True, internal_trust_bundles=bundles,
                          internal_proxy_certs={"proxy-client": {"keyfile": client["key"], "certfile": client["cert"],
                                                                 "cafile": client["cert"]}})

    async def start_and_add():
        proxy = tiered_proxy(traefik, recent, compact_routes=1000) if recent else hub_proxy(traefik)
        proxy.app = app
        await proxy._start_future
        if recent:
            await proxy.add_route("/", backends["plain"].url, {"hub": True})
        for name, backend in backends.items():
            await proxy.add_route(routespec(name), backend.url, {"user": name})
        return proxy

    recent = request.getfixturevalue("recent") if tiers == 2 else None
    store = (recent or traefik).routes  # where the routes are (the copies of the certificates: the main store)
    proxy = asyncio.run(start_and_add())
    # traefik showed the proxy-client certificate and trusted alice's server (JupyterHub's CAs).
    wait_until(lambda: reached(traefik, "/user/alice/lab") == "alice", what="traefik to reach a TLS server")
    # A server whose certificate no JupyterHub CA signed is not believed; plain http stays plain.
    assert reached(traefik, "/user/mallory/lab") == 500
    assert reached(traefik, "/user/plain/lab") == "plain"
    routes = GroupReadableRoutes(str(store / "rules.yaml")).load()
    transports = json.loads((store / "rules.yaml").read_text())["http"]["serversTransports"]
    assert list(transports) == [proxy_module.INTERNAL_TRANSPORT]
    # traefik (the directory's group) reads copies; JupyterHub's own files stay where they were.
    for path in [*transports[proxy_module.INTERNAL_TRANSPORT]["rootCAs"],
                 *transports[proxy_module.INTERNAL_TRANSPORT]["certificates"][0].values()]:
        assert os.path.dirname(path) == str(traefik.routes) and os.stat(path).st_mode & 0o777 == 0o640
    services = {route["data"]["user"]: routes["http"]["services"][route["service"]]["loadBalancer"]
                for route in routes["jupyterhub"]["routes"].values() if "user" in route["data"]}
    assert "serversTransport" not in services["plain"] and services["alice"]["serversTransport"]
    if tiers == 2:
        return

    # The hub restarted without internal_ssl: no route keeps a transport that is gone.
    async def restart_plain():
        again = hub_proxy(traefik)
        await again._start_future

    asyncio.run(restart_plain())
    routes = GroupReadableRoutes(str(traefik.routes / "rules.yaml")).load()
    assert "serversTransports" not in routes["http"]
    assert all("serversTransport" not in s["loadBalancer"] for s in routes["http"]["services"].values())
    del proxy


def test_concurrent_route_changes_all_reach_the_files_and_a_deleted_shard_is_written_again(traefik):
    # Adds and deletes at once wait on the proxy's lock, each with its own routes to write
    # (a task-local marker): the files on disk must be the hub's routes, whatever the interleaving.
    backend = Backend("server")
    names = [f"c{i}" for i in range(30)]

    async def churn():
        proxy = hub_proxy(traefik)
        await proxy._start_future
        await asyncio.gather(*(proxy.add_route(routespec(n), backend.url, {"user": n}) for n in names))
        await asyncio.gather(*(proxy.delete_route(routespec(n)) for n in names[::2]),
                             *(proxy.add_route(routespec(n + "x"), backend.url, {"user": n + "x"}) for n in names[:10]))
        on_disk = GroupReadableRoutes(str(traefik.routes / "rules.yaml")).load()
        for section in ("routers", "services"):
            assert on_disk["http"][section] == proxy.dynamic_config["http"][section]
        assert on_disk["jupyterhub"]["routes"] == proxy.dynamic_config["jupyterhub"]["routes"]
        assert len(on_disk["jupyterhub"]["routes"]) == 25
        # A shard deleted behind the hub's back is written again by the hub's check.
        shard = sorted(traefik.routes.glob("rules-*.yaml"))[0]
        shard.unlink()
        assert not proxy.dynamic_config_handler.intact()
        await proxy._repair_route_file()
        assert shard.exists() and proxy.dynamic_config_handler.intact()
        assert GroupReadableRoutes(str(traefik.routes / "rules.yaml")).load()["jupyterhub"]["routes"] == \
            proxy.dynamic_config["jupyterhub"]["routes"]

    asyncio.run(churn())
    wait_until(lambda: all(reached(traefik, routespec(n) + "lab") == "server" for n in names[1::2]),
               what="every kept route to be served")
    assert reached(traefik, routespec(names[0]) + "lab") == 404
    assert reached(traefik, routespec(names[0] + "x") + "lab") == "server"


def test_a_route_is_ready_when_traefik_serves_it_and_a_router_traefik_disabled_fails_at_once(traefik):
    # One API call per look (the router; its service is in the same file): the add returns
    # once the route is served. A router traefik disabled (here: a middleware it does not
    # have) would never serve: the wait stops at once and says so (upstream, which only looks whether
    # router and service are listed, took it as ready: this test fails on 55574f5, "DID NOT RAISE").
    backend = Backend("server")

    async def add_then_refused():
        proxy = hub_proxy(traefik)
        await proxy._start_future
        await proxy.add_route(routespec("ready"), backend.url, {"user": "ready"})
        assert reached(traefik, routespec("ready") + "lab") == "server"
        spec = routespec("refused")
        traefik_config, jupyterhub_config = proxy._dynamic_config_for_route(spec, backend.url, {"user": "refused"})
        for router in traefik_config["http"]["routers"].values():
            router["middlewares"] = ["no-such-middleware"]
        await proxy._apply_dynamic_config(traefik_config, jupyterhub_config)
        started = asyncio.get_running_loop().time()
        with pytest.raises(RuntimeError, match="disabled the router of /user/refused/"):
            await proxy._wait_for_route(spec)
        assert asyncio.get_running_loop().time() - started < 10  # check_route_timeout is 20

    asyncio.run(add_then_refused())


def test_an_api_password_of_72_bytes_reaches_traefik_and_a_longer_one_stops_the_hub_naming_it(traefik):
    # bcrypt takes 72 bytes at most (bcrypt 5.0, our pin, raises on more): a longer password got no
    # new hash, traefik kept the old one, and the hub started healthy with every spawn failing after
    # check_route_timeout on traefik's 401s. Now it stops at the password's validation.
    backend = Backend("server")
    longest = "é" * 35 + "pp"  # 72 bytes, 37 characters

    async def add():
        proxy = hub_proxy(traefik, password=longest)
        await proxy._start_future
        await proxy.add_route(routespec("long"), backend.url, {"user": "long"})
        assert reached(traefik, routespec("long") + "lab") == "server"

        for longer in ("p" * 73, "é" * 36 + "p"):
            with pytest.raises(TraitError, match=rf"hub_proxy_api_password.* is {len(longer.encode())} bytes.*72 at most"):
                hub_proxy(traefik, password=longer)

    asyncio.run(add())


def test_a_start_that_failed_stops_the_hub_at_its_first_look_at_the_routes(tmp_path):
    # Upstream skips a start that is already done, failed or not: the hub ran on with routes traefik never
    # got. Here the route store's directory is missing (as an unwritable one would be); without the fix
    # the check goes on and fails later on something else (the app this test does not give it).
    async def start_then_check():
        proxy = SharedRoutesTraefikProxy(
            should_start=False, dynamic_config_file=str(tmp_path / "missing" / "rules.yaml"),
            traefik_api_url="http://127.0.0.1:9", traefik_api_username="jupyterhub", traefik_api_password="p" * 32,
            traefik_entrypoint="https", check_route_timeout=20)
        await asyncio.wait([proxy._start_future])
        with pytest.raises(FileNotFoundError, match="missing/.staging"):
            await proxy.check_routes({}, {})

    asyncio.run(start_then_check())


def tiered_proxy(traefik, recent, **kwargs):
    """The hub's proxy class with a recent tier (hub_proxy_recent_tier), as the base config makes it."""
    return SharedRoutesTraefikProxy(
        should_start=False, dynamic_config_file=str(traefik.routes / "rules.yaml"),
        traefik_api_url=traefik.api_url, traefik_api_username="jupyterhub", traefik_api_password="p" * 32,
        traefik_entrypoint="https", check_route_timeout=20, recent_url=recent.url, recent_api_url=recent.api_url,
        recent_config_file=str(recent.routes / "rules.yaml"), **kwargs)


def stored(traefik):
    """The users whose routes are in this traefik's store."""
    routes = GroupReadableRoutes(str(traefik.routes / "rules.yaml")).load().get("jupyterhub", {}).get("routes", {})
    return {route["data"].get("user", "hub") for route in routes.values()}


def test_a_recent_tier_serves_new_routes_at_once_and_hands_them_to_the_main_traefik(traefik, recent):
    # Two real traefiks as the proxy role runs them with hub_proxy_recent_tier: new routes (and
    # the hub's) in the recent one, reached through the main one, moved to the main one in batches;
    # every URL reaches its own server whichever tier holds its route, after restarts of either
    # traefik and of the hub; a local user who connects to the recent traefik directly reaches nothing.
    names = ["victim", "bob{{", "x`)||PathRegexp(`.*", "semi;colon", "..x"]
    backends = {name: Backend(name) for name in ["hub", "again", *names]}

    expected = {name: name for name in names}

    def every_url_reaches_its_own_target():
        assert reached(traefik, "/hub/login") == "hub"
        assert reached(traefik, "/user/other/lab") == "hub"
        assert {name: reached(traefik, routespec(name) + "lab") for name in names} == expected
        return True

    async def scenario():
        proxy = tiered_proxy(traefik, recent, compact_routes=1000, compact_seconds=3600)
        await proxy._start_future
        await proxy.add_route("/", backends["hub"].url, {"hub": True})
        for name in names:  # each is served when add_route returns: no wait here
            await proxy.add_route(routespec(name), backends[name].url, {"user": name})
            assert reached(traefik, routespec(name) + "lab") == name
        assert stored(recent) == {"hub", *names} and stored(traefik) == set()
        every_url_reaches_its_own_target()
        # A default certificate (traefik makes an RSA key at every change of a store without one).
        default = json.loads((recent.routes / "rules.yaml").read_text())["tls"]["stores"]["default"]
        assert "BEGIN CERTIFICATE" in open(default["defaultCertificate"]["certFile"]).read()

        # The client's address is the main traefik's to tell: forged X-Real-Ip never passes;
        # the hub still gets hub-origin, and no server sees the recent tier's header.
        seen = traefik.get("/hub/login", headers={"X-Real-Ip": "203.0.113.9", proxy_module.RECENT_HEADER: "x"}).json()
        assert (seen["real_ip"], seen["origin"], seen["tier"]) == ("127.0.0.1", proxy.origin_token, None)
        assert traefik.get("/user/victim/", headers={proxy_module.RECENT_HEADER: "x"}).json()["tier"] is None
        # Straight to the recent traefik's port (any local user can): no route, whatever the header says.
        for headers in ({}, {proxy_module.RECENT_HEADER: "forged"}, {"X-Real-Ip": "203.0.113.9"}):
            assert recent.get("/hub/login", headers=headers).status_code == 404
            assert recent.get("/user/victim/lab", headers=headers).status_code == 404

        # The move: in the main traefik's store once it serves them; the hub's route stays.
        proxy.compact_routes = 3
        proxy._compact_when_due()
        await proxy._compaction
        assert stored(traefik) == set(names) and stored(recent) == {"hub"}
        every_url_reaches_its_own_target()

        # A route deleted from the main tier and added again (a server that moved): served at
        # its new place when add_route returns, not at its old one the main traefik still had.
        await proxy.delete_route(routespec("victim"))
        await proxy.add_route(routespec("victim"), backends["again"].url, {"user": "victim"})
        assert reached(traefik, "/user/victim/lab") == "again"
        assert "victim" in stored(recent) and "victim" not in stored(traefik)
        await proxy.delete_route(routespec("bob{{"))  # in the main tier: gone from both
        await asyncio.to_thread(wait_until, lambda: reached(traefik, routespec("bob{{") + "lab") == "hub",
                                what="a deleted route to fall through to the hub")

        # A restarted hub reads both stores back: every route where it was.
        again = tiered_proxy(traefik, recent)
        await again._start_future
        assert set(await again.get_all_routes()) == set(await proxy.get_all_routes())
        assert {again.dynamic_config["jupyterhub"]["routes"][k]["data"].get("user", "hub")
                for k in again._recent} == {"hub", "victim"}

    asyncio.run(scenario())
    expected.update({"victim": "again", "bob{{": "hub"})  # moved; deleted (the hub's URL now)
    for restarted in (recent, traefik):  # each traefik reads its store anew
        restarted.stop()
        restarted.start()
        wait_until(every_url_reaches_its_own_target, what=f"the routes after {restarted.dir.name} restarted")
    assert " ERR " not in (traefik.log.read_text() + recent.log.read_text()).replace("\x1b[31mERR\x1b[0m", " ERR ")


def test_files_get_the_stores_group_and_a_staging_directory_traefik_cannot_list_is_opened(tmp_path):
    # The hub's unit may not chown (its syscall filter kills the hub: the first version did) nor,
    # as root without capabilities, chmod a setgid bit (the version before): the store's group comes
    # from the store's setgid, inherited by the directories the hub makes; one made 0700 (by hand,
    # or a umask) is opened for traefik, which stops reading every route at one it cannot list.
    routes = tmp_path / "routes"
    routes.mkdir()
    os.chown(routes, -1, 65534)
    routes.chmod(0o2770)
    (routes / ".staging").mkdir(mode=0o700)
    config = store({"u": "http://127.0.0.1:9000"})
    GroupReadableRoutes(str(routes / "rules.yaml"), shards=2).atomic_dump(config)
    written = [p for p in routes.rglob("*") if p.is_file()]
    assert len(written) == 3 and all(p.stat().st_gid == 65534 for p in written), written
    for directory in (".staging", ".records"):
        assert (routes / directory).stat().st_mode & 0o7777 == 0o2770, directory


def test_a_staging_directory_that_is_not_setgid_stops_the_write_with_its_name(tmp_path):
    routes = tmp_path / "routes"
    routes.mkdir()
    os.chown(routes, -1, 65534)
    (routes / ".staging").mkdir(mode=0o770)
    with pytest.raises(PermissionError, match="not setgid"):
        GroupReadableRoutes(str(routes / "rules.yaml")).atomic_dump(store({"u": "http://127.0.0.1:9000"}))
    assert not list(routes.glob("rules*"))


class TypedBackend(Backend):
    """Answers .../TYPE/SUBTYPE with 20 KiB of that content type, and the hub-origin header it got."""

    def answer(self, request):
        kind = "/".join(request.path.split("/")[-2:])
        return ({"Content-Type": kind, "X-Origin": request.headers.get(proxy_module.ORIGIN_HEADER) or ""},
                (b"var jupyterlab = 'x';\n" * 1000)[:20480])


@pytest.mark.parametrize("compress", [True, False])
def test_text_responses_are_compressed_for_clients_that_ask_and_streams_never(traefik, compress):
    backend = TypedBackend("typed")

    async def add():
        proxy = hub_proxy(traefik)
        proxy.compress = compress
        await proxy.add_route("/", backend.url, {"hub": True})
        await proxy.add_route(routespec("ada"), backend.url, {"user": "ada"})
        return proxy.origin_token

    origin = asyncio.run(add())
    encodings = {}
    for kind in ("application/javascript", "text/css", "application/json", "text/event-stream", "image/png"):
        response = traefik.get(f"/user/ada/{kind}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200 and len(response.content) == 20480, kind  # decoded as sent
        encodings[kind] = response.headers.get("Content-Encoding")
    text = "gzip" if compress else None
    assert encodings == {"application/javascript": text, "text/css": text, "application/json": text,
                         "text/event-stream": None, "image/png": None}
    assert traefik.get("/user/ada/text/css").headers.get("Content-Encoding") is None  # the client did not ask
    hub = traefik.get("/hub/text/html", headers={"Accept-Encoding": "gzip"})  # the hub's route keeps hub-origin
    assert hub.headers.get("Content-Encoding") == text and hub.headers["X-Origin"] == origin
