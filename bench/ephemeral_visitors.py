#!/usr/bin/env python3
"""Benchmark: N visitors log in to the ephemeral hub at once.

Measures, for each visitor, the time from submitting the password to a ready
server (through the REST API, as the tests do), and the memory of all users'
servers together (cgroup accounting, sampled every second), then stops them.
Runs against the molecule ephemeral host, converged beforehand:

    . testbed/env.sh && ujh_setup && ujh_molecule_env && molecule converge -s ephemeral
    .venv/bin/python bench/ephemeral_visitors.py --visitors 40
    molecule destroy -s ephemeral

Figures only: nothing here passes or fails on speed.
"""

import argparse
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "molecule" / "shared" / "lib"), str(REPO / "molecule" / "ephemeral" / "tests")]
os.environ.setdefault("CONTAINERS_CONF", str(REPO / "testbed" / "containers.conf"))
os.environ.setdefault("MOLECULE_SCENARIO_NAME", "ephemeral")  # the test library reads that scenario's inventory

import testinfra  # noqa: E402
from ephemeral import stop_server, visitor_with_server  # noqa: E402
from ujh_testlib import container_ip  # noqa: E402

MEMORY = (
    "for u in $(systemctl list-units --plain --no-legend 'jupyter-*-singleuser.service' | cut -d' ' -f1); "
    "do systemctl show -p MemoryCurrent --value $u; done"
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visitors", type=int, default=20)
    parser.add_argument("--container", default="ujh-ephemeral")
    parser.add_argument("--idle", type=float, default=15, help="seconds to sample the idle sessions")
    args = parser.parse_args()

    host = testinfra.get_host(f"podman://{args.container}")
    hub_url = f"https://{container_ip(args.container)}"
    samples, done = [], threading.Event()

    def sample():
        while not done.is_set():
            values = host.run(MEMORY).stdout.split()
            if values and all(v.isdigit() for v in values):
                samples.append(sum(map(int, values)))
            done.wait(1)

    def visitor(_):
        started = time.monotonic()
        _, name, _ = visitor_with_server(hub_url, timeout=600)
        return name, time.monotonic() - started

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.monotonic()
    try:
        with ThreadPoolExecutor(args.visitors) as pool:
            results = list(pool.map(visitor, range(args.visitors)))
        all_ready = time.monotonic() - started
        done.wait(args.idle)
    finally:
        done.set()
        sampler.join()
    times = sorted(t for _, t in results)
    print(f"visitors: {args.visitors}; all servers ready after {all_ready:.1f} s")
    print(f"password -> server ready: median {statistics.median(times):.1f} s, "
          f"p90 {times[int(0.9 * (len(times) - 1))]:.1f} s, max {times[-1]:.1f} s")
    if samples:
        peak = max(samples)
        print(f"peak memory of all servers: {peak / 2**20:.0f} MiB ({peak / args.visitors / 2**20:.0f} MiB per session)")
    else:
        print("memory: the servers report no MemoryCurrent (memory accounting is off)")
    with ThreadPoolExecutor(args.visitors) as pool:
        list(pool.map(lambda r: stop_server(host, hub_url, r[0], timeout=300), results))


if __name__ == "__main__":
    main()
