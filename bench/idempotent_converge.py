#!/usr/bin/env python3
"""Benchmark: an idempotent run of site.yml against the converged default host.

Runs `ansible-playbook playbooks/site.yml` N times with molecule's inventory of the
default scenario (over SSH, as the scenario does) and prints each run's wall time,
the median, the number of tasks and the slowest tasks of the last run. Every run
must report changed=0 (else the figure is not of an idempotent run and it says so).

    . testbed/env.sh && ujh_setup && ujh_molecule_env && molecule converge -s default
    .venv/bin/python bench/idempotent_converge.py --runs 3
    molecule destroy -s default

Figures only: nothing here passes or fails on speed.
"""

import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenario", default="default")
    args = parser.parse_args()

    # molecule keeps each scenario's inventory and ansible.cfg in ~/.ansible/tmp/molecule.*.<scenario>
    candidates = sorted(glob.glob(os.path.expanduser(f"~/.ansible/tmp/molecule.*.{args.scenario}/inventory")),
                        key=os.path.getmtime)
    if not candidates:
        sys.exit(f"no molecule inventory for scenario {args.scenario}: converge it first (see --help)")
    inventory = Path(candidates[-1])
    env = dict(os.environ, ANSIBLE_CONFIG=str(inventory.parent / "ansible.cfg"),
               MOLECULE_EPHEMERAL_DIRECTORY=str(inventory.parent), ANSIBLE_NOCOLOR="1")
    walls = []
    for run in range(1, args.runs + 1):
        with tempfile.NamedTemporaryFile(suffix=".jsonl") as timings:
            env["UJH_TIMINGS_FILE"] = timings.name
            start = time.monotonic()
            result = subprocess.run(["ansible-playbook", "-i", str(inventory), str(REPO / "playbooks" / "site.yml")],
                                    env=env, capture_output=True, text=True, check=False)
            wall = time.monotonic() - start
            rows = [json.loads(line) for line in Path(timings.name).read_text().splitlines() if line]
        changed = sum(int(n) for n in re.findall(r"\bchanged=(\d+)", result.stdout))
        if result.returncode != 0 or changed:
            print(result.stdout[-3000:])
            sys.exit(f"run {run}: rc={result.returncode} changed={changed}: not an idempotent run")
        walls.append(wall)
        print(f"run {run}: {wall:.1f} s wall, {len(rows)} tasks, {sum(r['seconds'] for r in rows):.1f} s in tasks")
    print(f"median {statistics.median(walls):.1f} s (min {min(walls):.1f}, max {max(walls):.1f}) over {len(walls)} runs")
    print("slowest tasks of the last run:")
    for row in sorted(rows, key=lambda r: r["seconds"], reverse=True)[:10]:
        print(f"  {row['seconds']:5.2f} s  {row['task']}")


if __name__ == "__main__":
    main()
