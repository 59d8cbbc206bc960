#!/usr/bin/env python3
"""Every benchmark against the converged ephemeral host; writes docs/benchmarks.md.

Run by bench/run, which converges the host first (and times that converge).
Figures only: nothing here passes or fails on speed. Each section is bounded in
time and records what it measured in .cache/bench/results.json.
"""

import argparse
import base64
import datetime
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "molecule" / "shared" / "lib"), str(REPO / "molecule" / "ephemeral" / "tests")]
os.environ.setdefault("MOLECULE_SCENARIO_NAME", "ephemeral")  # the test library reads that scenario's inventory

import requests  # noqa: E402
import testinfra  # noqa: E402
from ephemeral import seconds_to_jupyterlab, service, stop_server, unit, visit  # noqa: E402
from ujh_testlib import BASE, STATE, api, container_ip, https_session, wait_until  # noqa: E402

CONTAINER = "ujh-ephemeral"
CACHE = Path(os.environ.get("UJH_CACHE") or REPO / ".cache")  # as testbed/env.sh sets it
OUT = CACHE / "bench"
HUB_ENV = f"{BASE}/env/bin/python"
GROUP = "jupyterhub"  # traefik reads the route store through this group
# The warm pool the bench measures with 50 visitors at once: what a site expecting a class of
# 50 to arrive within a minute might keep (about 100 MiB each while they wait).
POOL_SIZE = 20


def stats(values, digits=2):
    values = sorted(values)
    return {
        "n": len(values),
        "median": round(statistics.median(values), digits),
        "p95": round(values[round(0.95 * (len(values) - 1))], digits),
        "min": round(values[0], digits),
        "max": round(values[-1], digits),
    }


def until(predicate, timeout, interval=0.05):
    """Seconds until predicate() is true (polled every interval), or an error."""
    started = time.monotonic()
    wait_until(predicate, timeout=timeout, interval=interval, what=getattr(predicate, "__doc__", None) or "condition")
    return time.monotonic() - started


def health(hub_url):
    """the hub's /hub/health through traefik"""
    try:
        return https_session().get(f"{hub_url}/hub/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


# -- the host ---------------------------------------------------------------

def machine(host):
    def out(command):
        return host.run(command).stdout.strip()

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {
        "date": datetime.date.today().isoformat(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "kernel": platform.release(),
        "host_os": out(". /etc/os-release && echo $PRETTY_NAME"),
        "jupyterhub": out(f"{HUB_ENV} -c 'import jupyterhub; print(jupyterhub.__version__)'"),
        "jupyterhub_traefik_proxy": out(f"{HUB_ENV} -m pip show jupyterhub-traefik-proxy | sed -n 's/^Version: //p'"),
        "traefik": out(f"{BASE}/proxy/env/bin/traefik version | sed -n 's/^Version: *//p'"),
        "systemdspawner": out(f"{HUB_ENV} -m pip show jupyterhub-systemdspawner | sed -n 's/^Version: //p'"),
        "python_loop_s": python_loop_s(),
    }


def python_loop_s(runs=5):
    """Seconds of one fixed pure-Python loop (10**7 additions) here, median of runs: how fast this
    machine was when the run began, to compare runs of different hours by."""
    def once():
        started, total = time.perf_counter(), 0
        for i in range(10**7):
            total += i
        return time.perf_counter() - started
    return round(statistics.median(once() for _ in range(runs)), 2)


def install_bench_tools(host):
    """nodejs, npm, wrk and nginx from Debian, configurable-http-proxy from npm: on the test host only."""
    host.check_output("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                      "--no-install-recommends nodejs npm wrk nginx-light > /tmp/bench-apt.log 2>&1")
    host.check_output("mkdir -p /opt/bench && cd /opt/bench && npm install --no-audit --no-fund --loglevel=error "
                      "configurable-http-proxy@5.3.0 > /tmp/bench-npm.log 2>&1")
    version = host.check_output("cd /opt/bench && node -p \"require('configurable-http-proxy/package.json').version\"")
    # npm on the users' PATH costs every server start about 0.8 s of CPU (jupyter-lsp's scan runs
    # `npm prefix -g`): measured in the crowd of 50. Gone again, the host is like a site's.
    host.check_output("DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq npm >> /tmp/bench-apt.log 2>&1 && "
                      "DEBIAN_FRONTEND=noninteractive apt-get autoremove -y -qq >> /tmp/bench-apt.log 2>&1")
    for script in ("proxy_routes.py", "ws_echo.py"):
        subprocess.run(["podman", "cp", str(REPO / "bench" / "host" / script), f"{CONTAINER}:/opt/bench/{script}"],
                       check=True)
    return {"configurable_http_proxy": version.strip(), "node": host.check_output("node --version").strip()}


# -- 1. converge -------------------------------------------------------------

def playbook(path, *args, idempotent=True):
    """ansible-playbook PATH against the ephemeral host, as molecule runs it: (seconds, task timings);
    stops the bench if it fails, or if it changed anything when idempotent."""
    inventory = Path(sorted(glob.glob(os.path.expanduser("~/.ansible/tmp/molecule.*.ephemeral/inventory")),
                            key=os.path.getmtime)[-1])
    env = dict(os.environ, ANSIBLE_CONFIG=str(inventory.parent / "ansible.cfg"),
               MOLECULE_EPHEMERAL_DIRECTORY=str(inventory.parent), ANSIBLE_NOCOLOR="1")
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as timings:  # testbed/callback_plugins/ujh_timings.py
        started = time.monotonic()
        result = subprocess.run(["ansible-playbook", "-i", str(inventory), str(path), *args],
                                env=dict(env, UJH_TIMINGS_FILE=timings.name),
                                capture_output=True, text=True, check=False)
        took = time.monotonic() - started
        tasks = [json.loads(line) for line in Path(timings.name).read_text().splitlines()]
    changed = sum(int(n) for n in re.findall(r"\bchanged=(\d+)", result.stdout))
    if result.returncode != 0 or (changed and idempotent):
        raise SystemExit(f"{path}: rc={result.returncode} changed={changed}\n{result.stdout[-3000:]}")
    return took, tasks


def converge(runs):

    def play(tasks, times=runs):
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            f.write("- hosts: jupyterhub_hosts\n  gather_facts: true\n  tasks:\n" + tasks)  # tasks: 4 spaces in
            f.flush()
            return [playbook(f.name)[0] for _ in range(times)]

    # In pairs, a facts-only play then an idempotent run: this machine's speed drifts by tens of
    # percent within minutes, so each ratio is of two runs a few seconds apart.
    facts_only, idempotent = [], []
    for _ in range(runs):
        facts_only += play("    []\n", 1)
        idempotent.append(playbook(REPO / "playbooks" / "site.yml"))
    tasks = idempotent[-1][1]
    # Tasks that ran a module on the host (a skipped task takes a few ms on the controller).
    ran = sum(1 for t in tasks if t["seconds"] >= 0.1)
    # The same number of the cheapest module calls: what that many tasks cost at least.
    modules = play("    - ansible.builtin.stat: {path: /}\n" * ran)
    # bench/run's cold converges and their floors, alternately (comma-separated, in order: milliseconds
    # and seconds; the timings of converge N in cold-converge-timings-N.jsonl): the medians and the
    # median run's slowest tasks.
    cold_runs = [int(ms) / 1000 for ms in os.environ.get("UJH_BENCH_COLD_CONVERGE_MS", "").split(",") if ms]
    cold_tasks = []
    if cold_runs:
        median_run = sorted(range(len(cold_runs)), key=cold_runs.__getitem__)[len(cold_runs) // 2] + 1
        cold_timings = OUT / f"cold-converge-timings-{median_run}.jsonl"
        if cold_timings.exists():
            cold_tasks = [json.loads(line) for line in cold_timings.read_text().splitlines()]
    floors = [float(x) for x in os.environ.get("UJH_BENCH_COLD_FLOOR_S", "").split(",") if x]
    uv_floors = [float(x) for x in os.environ.get("UJH_BENCH_COLD_FLOOR_UV_S", "").split(",") if x]
    # CPU seconds of each cold converge (its host's cgroup; the controller's: ansible-playbook under
    # molecule, molecule's own Python included) and of each floor's host; empty where not measured.
    cpu = {key: [float(x) for x in os.environ.get(f"UJH_BENCH_COLD_{key.upper()}_CPU_S", "").split(",") if x]
           for key in ("host", "controller", "floor", "floor_uv")}
    return {
        "cold_s": round(statistics.median(cold_runs), 1) if cold_runs else None,
        "cold_runs_s": [round(x, 1) for x in cold_runs],
        "cold_pair_ratios": [round(c / f, 2) for c, f in zip(cold_runs, floors)],
        "cold_floor_s": statistics.median(floors) if floors else None,
        "cold_floor_runs_s": floors,
        "cold_uv_floor_runs_s": uv_floors,
        "cold_slowest": slowest(cold_tasks, 8),
        "cold_installs": install_spans(cold_tasks),
        "cold_cpu_s": {key: values for key, values in cpu.items() if values},
        "idempotent_s": stats([t for t, _ in idempotent], 1),
        "idempotent_pair_ratios": [round(t / f, 2) for (t, _), f in zip(idempotent, facts_only)],
        "idempotent_tasks": len(tasks),
        "idempotent_ran": ran,
        "idempotent_slowest": slowest(tasks, 8),
        "module_calls_s": stats(modules, 1),
        "facts_only_s": stats(facts_only, 1),
    }


def install_spans(tasks):
    """{environment: [start, end, wait]} in a cold converge's task timings (seconds from the first task):
    from its background install's start to the end of the task that waited for it, and that wait's own
    seconds (what was left of the install when it was needed); and the tasks' total."""
    spans, clock = {}, 0.0
    for t in tasks:
        found = re.search(r"(?:Install the missing pins .*|Wait for the install) into (/\S+)$", t["task"])
        if found:
            spans.setdefault(found.group(1), [round(clock, 1), None, None])
            if "Wait for" in t["task"]:
                spans[found.group(1)][1:] = [round(clock + t["seconds"], 1), round(t["seconds"], 1)]
        clock += t["seconds"]
    return {"spans": spans, "total_s": round(clock, 1)}


def slowest(tasks, n):
    return [[t["task"], t["seconds"]] for t in sorted(tasks, key=lambda t: -t["seconds"])[:n]]


# How the floor makes each venv: plain pip (python -m venv, pip compiling as it installs), or
# uv by hand (fetched by the bundled pip wheel, as the roles fetch it; uv venv, then its install
# with bytecode, one cache for the three).
FLOOR_VENV = {
    "pip": r"""venv() {
  python3 -m venv "$1"
  "$1/bin/pip" install -q --no-index --find-links /srv/wheelhouse "${@:2}"
}""",
    "uv": r"""python3 "$(echo /usr/share/python-wheels/pip-*.whl)/pip" install -q --no-compile --no-deps --target /opt/floor/uv \
  --no-index --find-links /srv/wheelhouse --require-hashes -r /opt/floor/uv.txt
venv() {
  /opt/floor/uv/bin/uv venv -q --python /usr/bin/python3 "$1"
  UV_CACHE_DIR=/opt/floor/uv-cache /opt/floor/uv/bin/uv pip install -q --compile-bytecode --python "$1/bin/python" \
    --no-index --find-links /srv/wheelhouse "${@:2}"
}""",
}
FLOOR = r"""set -e
# What the roles install from Debian when the host lacks it.
missing=""
command -v git >/dev/null || missing="$missing git"
python3 -c 'import ensurepip' 2>/dev/null || missing="$missing python3-venv"
if [ -n "$missing" ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi
__VENV__
venv /opt/floor/env -r /opt/floor/hub.txt -r /opt/floor/spawner.txt
venv /opt/floor/user-env -r /opt/floor/user.txt
venv /opt/floor/proxy -r /opt/floor/traefik.txt
mkdir -p /opt/floor/routes
cat > /opt/floor/traefik.toml <<'TOML'
[entryPoints.https]
  address = ":443"
  [entryPoints.https.http.tls]
[entryPoints.auth_api]
  address = "127.0.0.1:8099"
[api]
  dashboard = false
[providers]
  providersThrottleDuration = "0s"
  [providers.file]
    directory = "/opt/floor/routes"
    watch = true
TOML
cat > /opt/floor/jupyterhub_config.py <<'PY'
c.JupyterHub.bind_url = "https://127.0.0.1/"
c.JupyterHub.proxy_class = "traefik_file"
c.TraefikFileProviderProxy.should_start = False
c.TraefikFileProviderProxy.dynamic_config_file = "/opt/floor/routes/rules.toml"
c.TraefikFileProviderProxy.traefik_api_url = "http://127.0.0.1:8099"
c.TraefikFileProviderProxy.traefik_api_username = "jupyterhub"
c.TraefikFileProviderProxy.traefik_api_password = "floor-password-0123456789"
c.TraefikFileProviderProxy.traefik_entrypoint = "https"
c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
c.Spawner.cmd = ["/opt/floor/user-env/bin/jupyterhub-singleuser"]
PY
systemd-run --unit=floor-proxy /opt/floor/proxy/bin/traefik --configFile=/opt/floor/traefik.toml
systemd-run --unit=floor-hub --working-directory=/opt/floor /opt/floor/env/bin/jupyterhub -f /opt/floor/jupyterhub_config.py
until curl -skf -o /dev/null https://127.0.0.1/hub/health; do sleep 0.2; done
"""


def hashed_spec(spec):
    """``spec`` with its hashes from roles/_common/files/spec-hashes.txt, as the roles install it
    (the collection's filter known_hashes)."""
    sys.path.insert(0, str(REPO / "plugins" / "filter"))
    from known_hashes import known_hashes

    hashed = known_hashes(spec + "\n", (REPO / "roles" / "_common" / "files" / "spec-hashes.txt").read_text())
    if "--hash" not in hashed:
        raise SystemExit(f"{spec}: not in roles/_common/files/spec-hashes.txt")
    return hashed


def container_cpu_s(name):
    """The CPU seconds a podman container's processes have used so far, from its cgroup (v1 cpuacct,
    or v2 cpu.stat); None where neither is readable."""
    path = subprocess.run(["podman", "inspect", "-f", "{{.State.CgroupPath}}", name], capture_output=True,
                          text=True, check=False).stdout.strip()
    if not path:
        cid = subprocess.run(["podman", "inspect", "-f", "{{.Id}}", name], capture_output=True, text=True,
                             check=False).stdout.strip()
        path = f"/libpod_parent/libpod-{cid}" if cid else ""
    v1, v2 = Path(f"/sys/fs/cgroup/cpuacct{path}/cpuacct.usage"), Path(f"/sys/fs/cgroup{path}/cpu.stat")
    if path and v1.exists():
        return int(v1.read_text()) / 1e9
    if path and v2.exists():
        usage = re.search(r"^usage_usec (\d+)$", v2.read_text(), re.M)
        return int(usage.group(1)) / 1e6 if usage else None
    return None


def converge_floor(image, installer="pip"):
    """The floor of a cold converge: the same wheels by plain pip (or uv by hand) into three venvs, and
    the hub and traefik started by hand with minimal configs, in a fresh host of the same image (no
    Ansible). Its seconds, and the CPU seconds its host used (None where the cgroup is not readable)."""
    name = "ujh-bench-floor"
    subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)
    subprocess.run(["podman", "run", "-d", "--name", name, "--privileged", "--systemd=always", image,
                    "/usr/local/sbin/testbed-init"], check=True, capture_output=True)
    floor = testinfra.get_host(f"podman://{name}")
    try:
        until(lambda: floor.run("systemctl is-system-running --wait").rc in (0, 1), timeout=120)
        locks = {
            "hub.txt": (REPO / "roles" / "hub" / "files" / "requirements.txt").read_text(),
            "user.txt": (REPO / "roles" / "systemd_spawner" / "files" / "user-requirements.txt").read_text(),
            "uv.txt": (REPO / "roles" / "_common" / "files" / "uv-requirements.txt").read_text(),
        }
        specs = {}
        for role in ("systemd_spawner", "proxy"):
            for line in (REPO / "roles" / role / "defaults" / "main.yml").read_text().splitlines():
                if "_spec:" in line:
                    specs[role] = line.split(":", 1)[1].strip()
        # With their hashes, as the roles install them (the hub's lock is hashed: pip then wants every hash).
        locks["spawner.txt"] = hashed_spec(specs["systemd_spawner"])
        locks["traefik.txt"] = hashed_spec(specs["proxy"])
        floor.check_output("mkdir -p /opt/floor")
        for file, text in locks.items():
            put(floor, f"/opt/floor/{file}", text)
        put(floor, "/opt/floor/floor.sh", FLOOR.replace("__VENV__", FLOOR_VENV[installer]))
        cpu = container_cpu_s(name)
        started = time.monotonic()
        result = floor.run("timeout 900 bash /opt/floor/floor.sh")
        took = time.monotonic() - started
        if result.rc != 0:
            raise SystemExit(f"the converge floor failed: {result.stderr[-2000:]}")
        cpu_after = container_cpu_s(name)
        return round(took, 1), (round(cpu_after - cpu, 1) if cpu is not None and cpu_after is not None else None)
    finally:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)


# -- 2. proxy ----------------------------------------------------------------

def recent_tier(host):
    """Whether the host runs the recent tier (jupyterhub_proxy_recent_tier): its store is there."""
    return host.file(f"{BASE}/proxy/routes-recent").is_directory


def routes(host, sizes, samples):
    host.check_output("systemctl stop jupyterhub.service")  # the routes are the benchmark's alone
    try:
        results = {}
        tiered = recent_tier(host)
        # The host's own setting first; with a recent tier, also without it (the collection's default).
        for key, args in (("traefik", "--proxy traefik"), ("traefik_one_tier", "--proxy traefik --one-tier"),
                          ("chp", "--proxy chp")):
            if key == "traefik_one_tier" and not tiered:
                continue
            out = host.run(f"cd /opt/bench && timeout 1800 {HUB_ENV} proxy_routes.py {args} "
                           f"--sizes {sizes} --samples {samples} --chp-command "
                           f"/opt/bench/node_modules/.bin/configurable-http-proxy 2>/tmp/bench-routes-{key}.log")
            if out.rc != 0:
                raise SystemExit(f"proxy_routes.py {args} failed: "
                                 + host.run(f"tail -20 /tmp/bench-routes-{key}.log").stdout)
            results[key] = json.loads(out.stdout.strip().splitlines()[-1])["results"]
        results["tiered"] = tiered
        return results
    finally:
        host.check_output("systemctl start jupyterhub.service")


NGINX_SITE = """server {
  listen 127.0.0.1:8088;
  location / { return 200 "hello from the backend\\n"; }
}
"""
BENCH_ROUTE = {"http": {
    "routers": {"bench": {"rule": "PathPrefix(`/bench/`)", "entryPoints": ["https"], "service": "bench"},
                "bench-ws": {"rule": "PathPrefix(`/bench-ws/`)", "entryPoints": ["https"], "service": "bench-ws"}},
    "services": {"bench": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:8088"}]}},
                 "bench-ws": {"loadBalancer": {"servers": [{"url": "http://127.0.0.1:8089"}]}}},
}}
WS = f"{HUB_ENV} /opt/bench/ws_echo.py"


def put(host, path, content):
    """Write content to path on the host (no shell quoting of the content)."""
    encoded = base64.b64encode(content.encode()).decode()
    # In pieces: one argument of a command line holds at most 128 KiB (a hashed lock is larger).
    host.check_output(f": > {path}.b64")
    for start in range(0, len(encoded), 65536):
        host.check_output(f"echo {encoded[start:start + 65536]} >> {path}.b64")
    host.check_output(f"base64 -d {path}.b64 > {path} && rm {path}.b64")


def wrk(host, url, seconds):
    out = host.check_output(f"wrk -t2 -c32 -d{seconds}s --latency {url}")
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label):
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 2)

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"req_per_s": round(rate), "p50_ms": ms("50"), "p99_ms": ms("99"),
            "non_2xx": int(errors.group(1)) if errors else 0}


def throughput(host, seconds):
    """traefik and configurable-http-proxy in front of one nginx, same certificate, wrk -c32."""
    put(host, "/etc/nginx/sites-enabled/default", NGINX_SITE)
    host.check_output("systemctl restart nginx")
    route_file = f"{BASE}/proxy/routes/bench.yaml"
    put(host, route_file, json.dumps(BENCH_ROUTE))
    host.check_output(f"chgrp {GROUP} {route_file} && chmod 0640 {route_file}")
    chp_unit, echo_unit, chp_token = "ujh-bench-chp", "ujh-bench-ws-echo", "bench-chp-api-token"
    # With a recent tier: the same routes in its store too, under /bench-recent/ (through both traefiks,
    # as the hub's pages and a server's first half minute go), matched on the main traefik's header.
    recent_file = f"{BASE}/proxy/routes-recent/bench.yaml"
    tiered = recent_tier(host)
    if tiered:
        token = host.check_output(f"cd /opt/bench && {HUB_ENV} -c 'from proxy_routes import traefik_proxy; "
                                  f"print(traefik_proxy(\"{BASE}/jupyterhub_config.py\", False).recent_token)'")
        header = f"Header(`X-Unopinionated-Proxy-Tier`, `{token.strip()}`) && "
        recent_routes = json.loads(json.dumps(BENCH_ROUTE).replace("/bench", "/bench-recent"))
        for router in recent_routes["http"]["routers"].values():
            router["rule"] = header + router["rule"]
        put(host, recent_file, json.dumps(recent_routes))
        host.check_output(f"chgrp {GROUP}-routes {recent_file} && chmod 0640 {recent_file}")
    try:
        until(lambda: host.run("curl -skf https://127.0.0.1/bench/").rc == 0, timeout=30)
        if tiered:
            until(lambda: host.run("curl -skf https://127.0.0.1/bench-recent/").rc == 0, timeout=30)
        host.check_output(f"systemd-run --unit={echo_unit} --collect {WS} serve 8089")
        host.check_output(
            f"systemd-run --unit={chp_unit} --collect -E CONFIGPROXY_AUTH_TOKEN={chp_token} "
            "/opt/bench/node_modules/.bin/configurable-http-proxy "
            f"--ip 127.0.0.1 --port 18443 --api-port 18444 --default-target http://127.0.0.1:8088 "
            f"--ssl-cert {BASE}/proxy/tls/cert.pem --ssl-key {BASE}/proxy/tls/key.pem --log-level warn")
        until(lambda: host.run("curl -skf https://127.0.0.1:18443/bench/").rc == 0, timeout=30)
        host.check_output(f"curl -sf -X POST -H 'Authorization: token {chp_token}' "
                          "-d '{\"target\": \"http://127.0.0.1:8089\"}' http://127.0.0.1:18444/api/routes/bench-ws")
        rounds = {"traefik": [], "chp": [], "ws_traefik": [], "ws_chp": []}
        http = [("traefik", "https://127.0.0.1/bench/"), ("chp", "https://127.0.0.1:18443/bench/")]
        ws = [("ws_traefik", "wss://127.0.0.1/bench-ws/"), ("ws_chp", "wss://127.0.0.1:18443/bench-ws/")]
        if tiered:
            http.append(("traefik_recent", "https://127.0.0.1/bench-recent/"))
            ws.append(("ws_traefik_recent", "wss://127.0.0.1/bench-recent-ws/"))
        for _ in range(2):  # interleaved, so drift hits both alike
            for name, url in http:
                rounds.setdefault(name, []).append(wrk(host, url, seconds))
        for _ in range(2):
            for name, url in ws:
                rounds.setdefault(name, []).append(json.loads(host.check_output(f"{WS} run {url} {seconds} 16")))
        return rounds
    finally:
        host.run(f"rm -f {route_file} {recent_file}; systemctl stop {chp_unit} {echo_unit}")


# -- 4. the ephemeral visitor --------------------------------------------------

def metric_sums(hub_url, names):
    """(sum, count) of JupyterHub's own histograms (successful spawns), read with the test service's token"""
    text = service(hub_url).get(f"{hub_url}/hub/metrics", timeout=30)
    text.raise_for_status()
    found = {name: [0.0, 0.0] for name in names}
    for line in text.text.splitlines():
        metric, _, value = line.rpartition(" ")
        for name in names:
            for i, suffix in enumerate(("_sum", "_count")):
                if metric.startswith(name + suffix) and ("status=" not in metric or 'status="success"' in metric):
                    found[name][i] += float(value)
    return found


def a_visitor(hub_url, timeout=600):
    """Password submitted -> the hub says the server is ready: (user name, seconds, session).

    Waits as JupyterHub's spawn-pending page does: one request to the spawn's progress
    event stream, which the hub ends with a "ready" (or "failed") event. Polling the user
    model instead (every 50 ms, as this bench did) puts 20 requests a second per visitor
    on the hub: with 50 visitors that load, not the spawns, starved the hub's event loop.
    """
    started = time.monotonic()
    session, response = visit(hub_url)
    assert response.status_code == 302, response.status_code
    user = api(session, hub_url, "GET", "/user").json()
    name = user["name"]
    if user["servers"].get("", {}).get("ready"):  # handed a server of the warm pool
        return name, time.monotonic() - started, session
    r = api(session, hub_url, "POST", f"/users/{name}/server")
    assert r.status_code in (201, 202), r.text
    with api(session, hub_url, "GET", f"/users/{name}/server/progress", stream=True, timeout=timeout) as stream:
        stream.raise_for_status()
        last = {}
        for line in stream.iter_lines(decode_unicode=True):
            if line and line.startswith("data:"):
                last = json.loads(line[5:])
                if last.get("ready") or last.get("failed"):
                    break
    assert last.get("ready"), f"{name}'s server: {last.get('message', last)}"
    return name, time.monotonic() - started, session


SPAWN_METRICS = ["jupyterhub_server_spawn_duration_seconds", "jupyterhub_proxy_add_duration_seconds"]


def cpu_seconds(host, unit):
    """CPU time (user + system, its children's included) of a unit's main process so far."""
    pid = host.check_output(f"systemctl show -p MainPID --value {unit}")
    fields = host.check_output(f"cat /proc/{pid}/stat").rsplit(")", 1)[1].split()
    ticks = int(host.check_output("getconf CLK_TCK"))
    return sum(int(f) for f in fields[11:15]) / ticks  # utime stime cutime cstime


def time_to_ready(host, hub_url, visitors):
    """One visitor at a time: password -> server ready (REST), where the hub spent it, and the
    CPU time a server's start costs (what bounds many visitors at once)."""
    before = metric_sums(hub_url, SPAWN_METRICS)
    hub_cpu = cpu_seconds(host, "jupyterhub.service")
    results, cpu = [], []
    for _ in range(visitors):
        results.append(a_visitor(hub_url)[:2])
        cpu.append(cpu_seconds(host, unit(results[-1][0])))
    hub_cpu = (cpu_seconds(host, "jupyterhub.service") - hub_cpu) / visitors
    after = metric_sums(hub_url, SPAWN_METRICS)
    breakdown = {}
    for name in SPAWN_METRICS:
        total, count = (after[name][0] - before[name][0]), (after[name][1] - before[name][1])
        breakdown[name] = round(total / count, 2) if count else None
    for name, _ in results:
        stop_server(host, hub_url, name, timeout=300)
    return {"ready_s": stats([t for _, t in results]), "mean_s": breakdown, "server_cpu_s": stats(cpu),
            "hub_cpu_per_visitor_s": round(hub_cpu, 2)}


def watch_workspace(seen):
    """A seconds_to_jupyterlab prepare(): the browser's clock (CDP timestamps, seconds) when
    JupyterLab's workspace came back from the server ("fetched") and when JupyterLab first
    sent it back ("saved"). JupyterLab's router runs its load-state command first, and that
    command waits for the first save, which a debouncer holds back (500 ms after the last
    change to the state); the file browser, then the launcher, wait for the router."""
    def prepare(context, page):
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        methods = {}

        def sent(event):
            request = event["request"]
            if "/lab/api/workspaces/" in request["url"]:  # not /lab/api/workspaces?: the list
                methods[event["requestId"]] = request["method"]
                if request["method"] == "PUT":
                    seen.setdefault("saved", event["timestamp"])

        def finished(event):
            if methods.get(event["requestId"]) == "GET":
                seen.setdefault("fetched", event["timestamp"])

        cdp.on("Network.requestWillBeSent", sent)
        cdp.on("Network.loadingFinished", finished)
    return prepare


def browser_time_to_lab(host, hub_url, visitors, imports=True):
    """Password submitted -> JupyterLab's launcher drawn, in Debian's chromium; and, of
    JupyterLab's load, the wait from its workspace fetched to its first save (watch_workspace);
    with imports, a server's imports too (server_imports: the same with or without a pool)."""
    from playwright.sync_api import sync_playwright

    times, names, at_lab, waits = [], [], [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-proxy-server"])
        for _ in range(visitors):
            seen = {}
            took, name, at = seconds_to_jupyterlab(browser, hub_url, 300_000, prepare=watch_workspace(seen))
            times.append(took)
            names.append(name)
            at_lab.append(at)
            if {"fetched", "saved"} <= seen.keys():
                waits.append(seen["saved"] - seen["fetched"])
        browser.close()
    for name in names:
        stop_server(host, hub_url, name, timeout=300)
    return dict(stats(times), at_lab=stats(at_lab), workspace_save_wait=stats(waits) if waits else None,
                server_imports=server_imports(host) if imports else None)


# The groups of packages server_imports names (by their top-level package).
IMPORT_GROUPS = {
    "hub_database": ("sqlalchemy", "alembic"),
    "aiohttp": ("aiohttp", "aiodns", "aiohappyeyeballs", "aiosignal", "frozenlist", "multidict", "propcache",
                "pycares", "yarl"),
}


def import_self_ms(text):
    """{top-level package: milliseconds} from python -X importtime's lines (each module's self time)."""
    spent = {}
    for match in re.finditer(r"^import time:\s+(\d+) \|\s+\d+ \|\s*([\w.]+)\s*$", text, re.M):
        package = match.group(2).split(".")[0]
        spent[package] = spent.get(package, 0) + int(match.group(1)) / 1000
    return spent


def server_imports(host, runs=3):
    """What a user's server imports before it answers, as an unprivileged account on the host:
    jupyterhub.singleuser and each server extension the users' environment enables, under
    python -X importtime (which slows every import alike: the shares hold, the milliseconds are
    high). Medians of runs: the total, the groups of IMPORT_GROUPS, the largest packages."""
    env = f"{BASE}/user-env"
    enabled = []
    for path in host.run(f"ls {env}/etc/jupyter/jupyter_server_config.d/").stdout.split():
        config = json.loads(host.file(f"{env}/etc/jupyter/jupyter_server_config.d/{path}").content_string)
        enabled += [name for name, on in config.get("ServerApp", {}).get("jpserver_extensions", {}).items() if on]
    code = "; ".join(["from jupyterhub.singleuser import main"] + [f"import {name}" for name in sorted(enabled)])
    samples = []
    for _ in range(runs):
        result = host.run(f"cd / && runuser -u nobody -- {env}/bin/python -X importtime -c '{code}'")
        assert result.rc == 0, result.stderr[-2000:]
        samples.append(import_self_ms(result.stderr))
    total = statistics.median(sum(s.values()) for s in samples)
    groups = {group: round(statistics.median(sum(s.get(p, 0) for p in packages) for s in samples))
              for group, packages in IMPORT_GROUPS.items()}
    grouped = {p for packages in IMPORT_GROUPS.values() for p in packages}
    largest = sorted({p for s in samples for p in s} - grouped,
                     key=lambda p: -statistics.median(s.get(p, 0) for s in samples))[:5]
    return {"extensions": sorted(enabled), "total_ms": round(total), "groups_ms": groups,
            "largest_ms": {p: round(statistics.median(s.get(p, 0) for s in samples)) for p in largest}}


def first_load_over_a_link(host, hub_url, visitors, mbit=20, rtt_ms=40):
    """Password -> JupyterLab drawn over an emulated link (chromium's network emulation: mbit
    each way, rtt_ms added to each request), with the routes' compression off and then on
    (hub_route_compression, a converge each): the seconds, and the bytes the browser received."""
    from playwright.sync_api import sync_playwright

    def emulate(received):
        def prepare(context, page):
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", {
                "offline": False, "latency": rtt_ms,
                "downloadThroughput": mbit * 1e6 / 8, "uploadThroughput": mbit * 1e6 / 8})
            cdp.on("Network.loadingFinished", lambda event: received.append(event["encodedDataLength"]))
        return prepare

    result = {"mbit": mbit, "rtt_ms": rtt_ms}
    for compress in (False, True):
        playbook(REPO / "playbooks" / "site.yml", "-e", f"hub_route_compression={str(compress).lower()}",
                 idempotent=False)
        until(lambda: health(hub_url), timeout=120)
        times, at_lab, received, names = [], [], [], []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-proxy-server"])
            for _ in range(visitors):
                got = []
                took, name, at = seconds_to_jupyterlab(browser, hub_url, 300_000, prepare=emulate(got))
                times.append(took)
                at_lab.append(at)
                received.append(sum(got))
                names.append(name)
            browser.close()
        for name in names:
            stop_server(host, hub_url, name, timeout=300)
        result["compressed" if compress else "uncompressed"] = dict(
            stats(times), at_lab=stats(at_lab), received_mib=round(statistics.median(received) / 2**20, 2))
    return result


MEMORY = ("for u in $(systemctl list-units --plain --no-legend 'jupyter-*-singleuser.service' | cut -d' ' -f1); "
          "do systemctl show -p MemoryCurrent --value $u; done")


def crowd(host, hub_url, visitors):
    """visitors log in at once: all served?, password -> ready p50/p95, peak memory of their servers."""
    samples, done = [], threading.Event()

    def sample():
        while not done.is_set():
            values = host.run(MEMORY).stdout.split()
            if values and all(v.isdigit() for v in values):
                samples.append(sum(map(int, values)))
            done.wait(1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    failures = []

    def one(_):
        try:
            return a_visitor(hub_url)[:2]
        except Exception as error:  # counted, not fatal: "all served" is the figure
            failures.append(repr(error)[:200])
            return None

    try:
        with ThreadPoolExecutor(visitors) as pool:
            results = [r for r in pool.map(one, range(visitors)) if r]
        all_ready = time.monotonic() - started
        done.wait(10)
    finally:
        done.set()
        sampler.join()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda r: stop_server(host, hub_url, r[0], timeout=600), results))
    return {"visitors": visitors, "served": len(results), "failures": failures[:5],
            "all_ready_s": round(all_ready, 1), "ready_s": stats([t for _, t in results]) if results else None,
            "peak_memory_mib": round(max(samples) / 2**20) if samples else None}


def pool_ready(hub_url):
    """How many servers of the warm pool are ready, and how many members it has."""
    group = service(hub_url).get(f"{hub_url}/hub/api/groups/warm-pool", timeout=30).json()["users"]
    users = service(hub_url).get(f"{hub_url}/hub/api/users?state=ready", timeout=30).json()
    return len(set(group) & {u["name"] for u in users}), len(group)


def warm_pool(host, hub_url, size, visitors, crowd_size):
    """With systemd_spawner_warm_pool = size: the time to fill it, the browser's time to
    JupyterLab for visitors one after another, and crowd_size visitors at once."""
    took, _ = playbook(REPO / "playbooks" / "site.yml", "-e", f"systemd_spawner_warm_pool={size}", idempotent=False)
    started = time.monotonic()
    until(lambda: pool_ready(hub_url) == (size, size), timeout=900, interval=1)
    fill_s = time.monotonic() - started
    browser = browser_time_to_lab(host, hub_url, visitors, imports=False)
    until(lambda: pool_ready(hub_url) == (size, size), timeout=900, interval=1)
    crowded = crowd(host, hub_url, crowd_size)
    playbook(REPO / "playbooks" / "site.yml", "-e", "systemd_spawner_warm_pool=0", idempotent=False)
    until(lambda: pool_ready(hub_url) == (0, 0), timeout=600, interval=1)
    return {"size": size, "converge_s": round(took, 1), "fill_s": round(fill_s, 1), "browser": browser,
            "crowd": crowded}


# -- 5. hub restarts -----------------------------------------------------------

def restarts(host, hub_url, times):
    """systemctl restart and kill -9 of the hub: seconds to /hub/health through traefik; a
    visitor's server is polled through traefik all along (failures counted)."""
    name, _, session = a_visitor(hub_url)
    token = api(session, hub_url, "POST", f"/users/{name}/tokens", json={"note": "bench"})
    token.raise_for_status()
    session.headers["Authorization"] = f"token {token.json()['token']}"
    counts = {"ok": 0, "failed": 0}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                ok = session.get(f"{hub_url}/user/{name}/api/status", timeout=10).status_code == 200
            except requests.RequestException:
                ok = False
            counts["ok" if ok else "failed"] += 1
            stop.wait(0.05)

    poller = threading.Thread(target=poll)
    poller.start()
    result = {"restart_s": [], "kill_s": []}
    try:
        for _ in range(times):
            until(lambda: health(hub_url), timeout=120)
            started = time.monotonic()
            host.check_output("systemctl restart jupyterhub.service")
            until(lambda: health(hub_url), timeout=120)
            result["restart_s"].append(time.monotonic() - started)
        for _ in range(times):
            until(lambda: health(hub_url), timeout=120)
            started = time.monotonic()
            host.check_output("systemctl kill -s KILL jupyterhub.service")
            until(lambda: not health(hub_url), timeout=30, interval=0.01)
            until(lambda: health(hub_url), timeout=120)
            result["kill_s"].append(time.monotonic() - started)
    finally:
        stop.set()
        poller.join()
    stop_server(host, hub_url, name, timeout=300)
    return {"restart_s": stats(result["restart_s"]), "kill_s": stats(result["kill_s"]),
            "server_requests": counts}


# -- 6. many past visitors -------------------------------------------------------

ADD_USERS = """
import sys, uuid
from jupyterhub import orm
db = orm.new_session_factory("sqlite:///{state}/jupyterhub.sqlite")()
for _ in range(int(sys.argv[1])):
    db.add(orm.User(name=str(uuid.uuid4())))
db.commit()
print(db.query(orm.User).count())
"""


def past_visitors(host, hub_url, count):
    """Hub restart -> healthy, and one login, with the users table empty-ish and with count past visitors."""
    def measure():
        restart = []
        for _ in range(3):
            started = time.monotonic()
            host.check_output("systemctl restart jupyterhub.service")
            until(lambda: health(hub_url), timeout=600)
            restart.append(time.monotonic() - started)
        logins = []
        for _ in range(5):
            started = time.monotonic()
            assert visit(hub_url)[1].status_code == 302
            logins.append(time.monotonic() - started)
        users = host.check_output(f"{HUB_ENV} -c \"import sqlite3; print(sqlite3.connect('{STATE}/jupyterhub.sqlite')"
                                  ".execute('select count(*) from users').fetchone()[0])\"")
        return {"users": int(users), "restart_s": stats(restart), "login_s": stats(logins)}

    before = measure()
    host.check_output("systemctl stop jupyterhub.service")
    put(host, "/opt/bench/add_users.py", ADD_USERS.format(state=STATE))
    host.check_output(f"{HUB_ENV} /opt/bench/add_users.py {count}")
    host.check_output("systemctl start jupyterhub.service")
    until(lambda: health(hub_url), timeout=600)
    return {"before": before, "after": measure()}


SPAWN_FIGURE = re.compile(r"spawn POST->ready: median ([\d.]+)s, all \[([^\]]*)\]")


def traefik_profile(sizes, seconds):
    """bench/traefik_profile.py on the controller (traefik's CPU profile during adds; needs Debian's golang-go):
    as the proxy role runs traefik, with 16 shards and with 1, then with Go's own GC settings."""
    results = None
    for extra in ([], ["--shards", "16", "--gogc", "100", "--gomemlimit-mib", "0"]):
        out = subprocess.run([sys.executable, str(REPO / "bench" / "traefik_profile.py"), "--sizes", sizes,
                              "--seconds", str(seconds), *extra], capture_output=True, text=True, timeout=3600,
                             check=False)
        if out.returncode != 0:
            raise SystemExit("bench/traefik_profile.py failed: " + out.stderr[-2000:])
        run = json.loads(out.stdout.strip().splitlines()[-1])
        if results is None:
            results = run
        else:
            results["results"] += run["results"]
    return results


def slurm_from_test_log():
    """The slurm scenario's own spawn and floor figures, from the last ./testbed/test slurm log
    (internal TLS on), and the spawns of bench/run's run with it off (slurm-plain.log), if any."""
    log = CACHE / "logs" / "slurm@bookworm.log"
    if not log.exists():
        return None
    text = log.read_text(errors="replace")
    spawn = SPAWN_FIGURE.search(text)
    floor = re.search(r"floor: sbatch->RUNNING median ([\d.]+)s .*?bare jupyter-server start median ([\d.]+)s", text)
    if not (spawn and floor):
        return None
    plain_log = CACHE / "bench" / "slurm-plain.log"
    plain = SPAWN_FIGURE.search(plain_log.read_text(errors="replace")) if plain_log.exists() else None
    form = re.search(r"form with (\d+) accounts: GET /hub/spawn median (\d+) ms \(max (\d+) ms.*?sacctmgr show "
                     r"associations median (\d+) ms", text)
    hopeless = re.search(r"a job that can never start failed the spawn ([\d.]+)s after the request", text)
    return {"spawn_s": float(spawn.group(1)), "samples": len(spawn.group(2).split(",")), "to_running_s": float(floor.group(1)),
            "form": {"accounts": int(form.group(1)), "median_ms": int(form.group(2)), "max_ms": int(form.group(3)),
                     "sacctmgr_ms": int(form.group(4))} if form else None,
            "hopeless_s": float(hopeless.group(1)) if hopeless else None,
            "bare_server_s": float(floor.group(2)),
            "plain_spawn_s": float(plain.group(1)) if plain else None,
            "plain_samples": len(plain.group(2).split(",")) if plain else 0,
            "log_date": datetime.date.fromtimestamp(log.stat().st_mtime).isoformat()}


def course_from_test_log():
    """The course scenario's own figure: a returning user, from the provider's sign-in form to JupyterLab."""
    log = CACHE / "logs" / "course@bookworm.log"
    if not log.exists():
        return None
    text = log.read_text(errors="replace")
    returning = re.search(r"returning user: provider's form sent -> JupyterLab ready \(browser\): median of (\d+) "
                          r"([\d.]+) s \[([^\]]*)\]", text)
    if not returning:
        return None
    return {"returning_s": float(returning.group(2)), "samples": [float(x) for x in returning.group(3).split(",")],
            "log_date": datetime.date.fromtimestamp(log.stat().st_mtime).isoformat()}


SECTIONS = ("converge", "routes", "throughput", "time_to_ready", "browser", "first_load", "crowd", "warm_pool",
            "restarts", "past_visitors", "traefik_profile")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples: a check of the benchmarks themselves")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated, of {','.join(SECTIONS)}")
    parser.add_argument("--no-doc", action="store_true", help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--floor", nargs="?", const="pip", choices=["pip", "uv"],
                        help="print the seconds of one cold converge's floor (a fresh host of UJH_TEST_IMAGE; its venvs by "
                             "plain pip, or by uv by hand) and the CPU seconds its host used, and stop")
    parser.add_argument("--container-cpu", metavar="NAME",
                        help="print the CPU seconds podman container NAME has used so far (empty if unreadable), and stop")
    parser.add_argument("--merge", metavar="RESULTS_JSON",
                        help="the other sections from an earlier full run's results (the document says which are whose)")
    args = parser.parse_args()
    if args.floor:
        took, cpu = converge_floor(os.environ["UJH_TEST_IMAGE"], args.floor)
        print(took, "" if cpu is None else cpu)
        return
    if args.container_cpu:
        cpu = container_cpu_s(args.container_cpu)
        print("" if cpu is None else round(cpu, 2))
        return
    quick = args.quick
    only = args.only.split(",")
    OUT.mkdir(parents=True, exist_ok=True)
    host = testinfra.get_host(f"podman://{CONTAINER}")
    hub_url = f"https://{container_ip(CONTAINER)}"
    until(lambda: health(hub_url), timeout=120)

    results = {"machine": machine(host), "quick": quick, "slurm": slurm_from_test_log(),
               "course": course_from_test_log()}
    results["machine"].update(install_bench_tools(host))
    plan = {
        "converge": lambda: converge(runs=2 if quick else 5),
        "routes": lambda: routes(host, "10,1000" if quick else "10,1000,5000", 10 if quick else 20),
        "throughput": lambda: throughput(host, 5 if quick else 15),
        "time_to_ready": lambda: time_to_ready(host, hub_url, 3 if quick else 10),
        "browser": lambda: browser_time_to_lab(host, hub_url, 3 if quick else 10),
        "first_load": lambda: first_load_over_a_link(host, hub_url, 2 if quick else 5),
        "crowd": lambda: crowd(host, hub_url, 10 if quick else 50),
        "warm_pool": lambda: warm_pool(host, hub_url, 4 if quick else POOL_SIZE, 3 if quick else 10, 10 if quick else 50),
        "restarts": lambda: restarts(host, hub_url, 2 if quick else 5),
        "past_visitors": lambda: past_visitors(host, hub_url, 1000 if quick else 10_000),
        "traefik_profile": lambda: traefik_profile("1000" if quick else "1000,5000", 10 if quick else 20),
    }
    if args.merge:
        earlier = Path(args.merge)
        taken = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(earlier.stat().st_mtime))
        before = json.loads(earlier.read_text())
        # An earlier partial run says whose its sections are: kept, so that every section stays named.
        whose = f"of the others: {before['partial']}" if before.get("partial") else f"the others from the full run of {taken}"
        now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        results = {**before, "machine": results["machine"],
                   "partial": f"Sections {', '.join(only)} from this run ({now}); {whose}"}
    for name in SECTIONS:
        if name not in only:
            continue
        print(f"==> benchmark: {name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        results[name] = plan[name]()
        results[name + "_took_s"] = round(time.monotonic() - started)
        print(json.dumps(results[name]), file=sys.stderr, flush=True)
        (OUT / "results.json").write_text(json.dumps(results, indent=1))
    if not args.no_doc:
        from report import write

        write(results, REPO / "docs" / "benchmarks.md")
        print(f"wrote {REPO / 'docs' / 'benchmarks.md'}", file=sys.stderr)


if __name__ == "__main__":
    main()
