"""Route add, delete and get_all through a JupyterHub proxy class, on the test host.

Runs in the hub's environment on a converged host, with the hub stopped (so the
routes are this script's alone), against the running proxy:

- traefik: the proxy class and settings the hub's own configuration file sets
  (so the figures are those of the routes the hub writes); with --one-tier, without
  its recent tier (jupyterhub_proxy_recent_tier) if it has one, and
- chp: JupyterHub's ConfigurableHTTPProxy class against a configurable-http-proxy
  this script starts on loopback (--chp-command).

For each size N it registers N routes in bulk, then times, one at a time, --samples
adds and deletes of one more route and --samples get_all_routes, then --concurrent
adds at once (total time), and removes its routes again. Prints one JSON object.
"""

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import time


def summary(seconds):
    seconds = sorted(seconds)
    return {
        "n": len(seconds),
        "p50_ms": round(1000 * statistics.median(seconds), 1),
        "p90_ms": round(1000 * seconds[int(0.9 * (len(seconds) - 1))], 1),
        "max_ms": round(1000 * seconds[-1], 1),
    }


def route(i):
    return f"/user/bench-{i}/", f"http://127.0.0.1:{20000 + i % 20000}", {"user": f"bench-{i}", "server_name": ""}


async def timed(coro):
    started = time.perf_counter()
    await coro
    return time.perf_counter() - started


async def bulk_add(proxy, kind, first, last):
    """Register routes first..last-1 as fast as the proxy allows (setup, not measured)."""
    if kind == "traefik":
        # One write of the whole route file instead of one per route: the
        # proxy class's own per-route path would make setup O(N^2).
        from jupyterhub_traefik_proxy import traefik_utils

        merged = {}
        for i in range(first, last):
            routespec, target, data = route(i)
            traefik_config, jupyterhub_config = proxy._dynamic_config_for_route(routespec, target, data)
            traefik_config["jupyterhub"] = jupyterhub_config
            merged = traefik_utils.deep_merge(merged, traefik_config)
        if merged:
            await proxy._apply_dynamic_config({"http": merged["http"]}, merged["jupyterhub"])
            await proxy._wait_for_route(route(last - 1)[0])
    else:
        for start in range(first, last, 100):
            await asyncio.gather(*(proxy.add_route(*route(i)) for i in range(start, min(start + 100, last))))


async def bulk_delete(proxy, kind, first, last):
    if kind == "traefik":
        async with proxy.mutex:
            config = proxy.dynamic_config
            for i in range(first, last):
                traefik_keys, jupyterhub_keys = proxy._keys_for_route(route(i)[0])
                for path in traefik_keys:
                    config["http"][path[1]].pop(path[2], None)
                for path in jupyterhub_keys:
                    config["jupyterhub"]["routes"].pop(path[1], None)
            proxy._persist_dynamic_config()
    else:
        for start in range(first, last, 100):
            await asyncio.gather(*(proxy.delete_route(route(i)[0]) for i in range(start, min(start + 100, last))))


async def measure(proxy, kind, sizes, samples, concurrent):
    results = []
    registered = 0
    for size in sizes:
        await bulk_add(proxy, kind, registered, size)
        registered = size
        adds, deletes, gets = [], [], []
        extra = 1_000_000
        for j in range(samples):
            adds.append(await timed(proxy.add_route(*route(extra + j))))
        for j in range(samples):
            gets.append(await timed(proxy.get_all_routes()))
        for j in range(samples):
            deletes.append(await timed(proxy.delete_route(route(extra + j)[0])))
        together = await timed(
            asyncio.gather(*(proxy.add_route(*route(extra + samples + j)) for j in range(concurrent)))
        )
        found = await proxy.get_all_routes()
        missing = [j for j in range(concurrent) if route(extra + samples + j)[0] not in found]
        if len(found) < size + concurrent or missing:
            raise SystemExit(f"{kind}: {len(found)} routes after adding {size} + {concurrent}; missing {missing[:5]}")
        await asyncio.gather(*(proxy.delete_route(route(extra + samples + j)[0]) for j in range(concurrent)))
        results.append(
            {
                "routes": size,
                "add": summary(adds),
                "delete": summary(deletes),
                "get_all": summary(gets),
                "concurrent": {"n": concurrent, "total_s": round(together, 2)},
            }
        )
        print(f"{kind} {size}: {json.dumps(results[-1])}", file=sys.stderr, flush=True)
    await bulk_delete(proxy, kind, 0, registered)
    return results


def traefik_proxy(config_file, one_tier):
    from jupyterhub.app import JupyterHub

    app = JupyterHub()
    app.load_config_file(config_file)
    if one_tier:
        app.config.SharedRoutesTraefikProxy.recent_url = ""
    return app.proxy_class(config=app.config)


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", choices=["traefik", "chp"], required=True)
    parser.add_argument("--config", default="/opt/jupyterhub/jupyterhub_config.py")
    parser.add_argument("--sizes", default="10,1000")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--concurrent", type=int, default=50)
    parser.add_argument("--chp-command", default="configurable-http-proxy")
    parser.add_argument("--one-tier", action="store_true", help="traefik: every route in the main traefik")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    chp = None
    if args.proxy == "traefik":
        proxy = traefik_proxy(args.config, args.one_tier)
    else:
        from jupyterhub.proxy import ConfigurableHTTPProxy

        token = secrets.token_hex(32)
        chp = subprocess.Popen(
            [args.chp_command, "--ip", "127.0.0.1", "--port", "18000", "--api-ip", "127.0.0.1",
             "--api-port", "18001", "--log-level", "warn"],
            env={**os.environ, "CONFIGPROXY_AUTH_TOKEN": token},
        )
        proxy = ConfigurableHTTPProxy(should_start=False, api_url="http://127.0.0.1:18001", auth_token=token)
        for _ in range(200):
            try:
                await proxy.get_all_routes()
                break
            except Exception:
                await asyncio.sleep(0.1)
    try:
        results = await measure(proxy, args.proxy, sizes, args.samples, args.concurrent)
    finally:
        if chp:
            chp.terminate()
            chp.wait()
    print(json.dumps({"proxy": args.proxy, "results": results}))


if __name__ == "__main__":
    asyncio.run(main())
