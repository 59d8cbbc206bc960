#!/usr/bin/env python3
"""The ephemeral login's throttle under 100,000 distinct failing addresses: time and memory.

Figures, never pass/fail; not part of .ci/run. Run with the controller venv:
    .venv/bin/python bench/throttle.py [ADDRESSES]
It feeds FailureThrottle (roles/systemd_spawner/files/unopinionated_jupyterhub_auth.py)
as the hub does: retry_after, then failed, for each wrong password; IPv4 and IPv6 halves.
"""

import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "roles" / "systemd_spawner" / "files"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "roles" / "hub" / "files"))
from unopinionated_jupyterhub_auth import FailureThrottle  # noqa: E402


def addresses(count):
    for n in range(count):
        if n % 2:
            yield f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"
        else:
            yield f"2001:db8:{n >> 16 & 0xffff:x}:{n & 0xffff:x}::1"


def main(count):
    for max_tracked in (100_000, 10_000):
        throttle = FailureThrottle(max_failures=5, window=60, budget=10**9, max_tracked=max_tracked)
        start = time.perf_counter()
        for address in addresses(count):
            throttle.retry_after(address)
            throttle.failed(address)
        seconds = time.perf_counter() - start
        # Memory in a second run, traced (tracing slows it several times).
        throttle = FailureThrottle(max_failures=5, window=60, budget=10**9, max_tracked=max_tracked)
        tracemalloc.start()
        for address in addresses(count):
            throttle.retry_after(address)
            throttle.failed(address)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{count} distinct failing addresses, max_tracked {max_tracked}: {seconds:.2f} s "
              f"({seconds / count * 1e6:.1f} us per wrong password), {throttle.tracked()} tracked, "
              f"{current / 2**20:.1f} MiB held, {peak / 2**20:.1f} MiB peak")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
