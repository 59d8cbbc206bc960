"""docs/benchmarks.md from bench/benchmarks.py's results (also: python bench/report.py results.json)."""

import json
import statistics
import sys
from pathlib import Path

TARGETS = """\
| target (issue 31) | measured | met |
| --- | --- | --- |
"""
BEFORE = json.loads((Path(__file__).resolve().parent / "before.json").read_text())


# A route in the recent tier's store: through the main traefik, then the recent one.
RECENT_PATH = "traefik, then the recent tier's"


def traefik_routes(results, tiers):
    """The route figures of one traefik ("one": the collection's default) or with a recent tier ("two")."""
    r = results.get("routes", {})
    if r.get("tiered"):
        return r.get("traefik" if tiers == "two" else "traefik_one_tier", [])
    return r.get("traefik", []) if tiers == "one" else []


def spread(runs):
    """min-max of a few runs (each in order, in seconds), or "one run"."""
    if not runs or len(runs) < 2:
        return "one run"
    return f"{min(runs):.1f}-{max(runs):.1f} s ({len(runs)} runs: {', '.join(f'{x:.1f}' for x in runs)})"


def figures(results):
    """The figures bench/before.json holds, from this run's results (those it measured)."""
    f = {}
    c = results.get("converge")
    if c:
        f.update(cold_converge_s=c["cold_s"], cold_floor_s=c.get("cold_floor_s"),
                 idempotent_s=c["idempotent_s"]["median"], facts_only_s=c["facts_only_s"]["median"],
                 idempotent_tasks=c["idempotent_tasks"], idempotent_ran=c.get("idempotent_ran"))
    for tiers, suffix in (("one", ""), ("two", "_tiered")):
        for x in traefik_routes(results, tiers):
            n = x["routes"]
            f[f"route_add_p50_ms_{n}{suffix}"] = x["add"]["p50_ms"]
            f[f"route_delete_p50_ms_{n}{suffix}"] = x["delete"]["p50_ms"]
            f[f"route_50_adds_s_{n}{suffix}"] = x["concurrent"]["total_s"]
    t = results.get("throughput")
    if t:
        runs = sorted(x["req_per_s"] for x in t["traefik"])
        f["throughput_req_per_s"] = runs[len(runs) // 2]
        if t.get("ws_traefik"):
            f["websocket_msg_per_s"] = round(statistics.median(x["msg_per_s"] for x in t["ws_traefik"]))
    slurm = results.get("slurm")
    if slurm:
        f.update(slurm_spawn_s=slurm["spawn_s"], slurm_floor_s=slurm["to_running_s"] + slurm["bare_server_s"])
    if "browser" in results:
        f["browser_to_lab_s"] = results["browser"]["median"]
    if "time_to_ready" in results:
        f["rest_to_ready_s"] = results["time_to_ready"]["ready_s"]["median"]
    crowd = results.get("crowd")
    if crowd and crowd["ready_s"]:
        f.update(crowd_p95_s=crowd["ready_s"]["p95"], crowd_all_ready_s=crowd["all_ready_s"])
    link = results.get("first_load")
    if link:
        f.update(link_uncompressed_s=link["uncompressed"]["median"], link_compressed_s=link["compressed"]["median"])
    pool = results.get("warm_pool")
    if pool:
        f["pool_browser_to_lab_s"] = pool["browser"]["median"]
        if pool["crowd"]["ready_s"]:
            f.update(pool_crowd_p95_s=pool["crowd"]["ready_s"]["p95"], pool_crowd_all_ready_s=pool["crowd"]["all_ready_s"])
    if "restarts" in results:
        f["restart_to_healthy_s"] = results["restarts"]["restart_s"]["median"]
    return f


LABELS = {
    "cold_converge_s": "cold converge, s", "cold_floor_s": "its floor (plain pip, no Ansible), s",
    "idempotent_s": "idempotent converge, s", "facts_only_s": "facts-only play, s",
    "idempotent_tasks": "tasks in an idempotent run", "idempotent_ran": "... of which ran a module",
    "route_add_p50_ms_10": "route add p50 at 10 routes, ms", "route_add_p50_ms_1000": "route add p50 at 1,000 routes, ms",
    "route_add_p50_ms_5000": "route add p50 at 5,000 routes, ms",
    "route_delete_p50_ms_1000": "route delete p50 at 1,000 routes, ms",
    "route_delete_p50_ms_5000": "route delete p50 at 5,000 routes, ms",
    "route_50_adds_s_1000": "50 route adds at once at 1,000 routes, s",
    "route_50_adds_s_5000": "50 route adds at once at 5,000 routes, s",
    **{f"{key}_tiered": f"with a recent tier: {label}" for key, label in (
        ("route_add_p50_ms_10", "route add p50 at 10 routes, ms"),
        ("route_add_p50_ms_1000", "route add p50 at 1,000 routes, ms"),
        ("route_add_p50_ms_5000", "route add p50 at 5,000 routes, ms"),
        ("route_delete_p50_ms_1000", "route delete p50 at 1,000 routes, ms"),
        ("route_delete_p50_ms_5000", "route delete p50 at 5,000 routes, ms"),
        ("route_50_adds_s_1000", "50 route adds at once at 1,000 routes, s"),
        ("route_50_adds_s_5000", "50 route adds at once at 5,000 routes, s"))},
    "throughput_req_per_s": "HTTPS throughput through traefik, req/s", "websocket_msg_per_s": "websocket messages/s",
    "slurm_spawn_s": "Slurm spawn, s", "slurm_floor_s": "its floor (sbatch -> RUNNING + a bare server), s",
    "browser_to_lab_s": "password -> JupyterLab drawn (chromium), s", "rest_to_ready_s": "password -> ready (REST), s",
    "crowd_p95_s": "50 visitors at once: p95 ready, s", "crowd_all_ready_s": "50 visitors at once: all ready, s",
    "link_uncompressed_s": "over 20 Mbit/s, 40 ms: password -> JupyterLab drawn, no compression, s",
    "link_compressed_s": "over 20 Mbit/s, 40 ms: password -> JupyterLab drawn, compressed routes, s",
    "pool_browser_to_lab_s": "with a warm pool: password -> JupyterLab drawn (chromium), s",
    "pool_crowd_p95_s": "with a warm pool: 50 visitors at once, p95 ready, s",
    "pool_crowd_all_ready_s": "with a warm pool: 50 visitors at once, all ready, s",
    "restart_to_healthy_s": "hub restart -> healthy through traefik, s",
}


def before_and_after(results):
    now, then = figures(results), BEFORE["figures"]
    chp = {f"route_add_p50_ms_{x['routes']}": x["add"]["p50_ms"] for x in results.get("routes", {}).get("chp", [])}
    chp.update({f"route_delete_p50_ms_{x['routes']}": x["delete"]["p50_ms"]
                for x in results.get("routes", {}).get("chp", [])})
    chp.update({f"route_50_adds_s_{x['routes']}": x["concurrent"]["total_s"]
                for x in results.get("routes", {}).get("chp", [])})
    t = results.get("throughput", {})
    if t.get("chp"):
        runs = sorted(x["req_per_s"] for x in t["chp"])
        chp["throughput_req_per_s"] = runs[len(runs) // 2]
    if t.get("ws_chp"):
        chp["websocket_msg_per_s"] = round(statistics.median(x["msg_per_s"] for x in t["ws_chp"]))
    out = [f"## Before and after\n\nBefore: {BEFORE['source']}. After: this run. CHP (configurable-http-proxy, "
           "JupyterHub's default proxy) measured in this run where it applies.\n\n",
           "| figure | before | after | CHP |\n| --- | --- | --- | --- |\n"]
    for key, label in LABELS.items():
        if key in now and now[key] is not None:
            out.append(row(label, then.get(key, "-"), now[key], chp.get(key, "")))
    return "".join(out) + "\n"


def ratio(a, b):
    return f"{a / b:.1f}x" if a and b else "-"


def row(*cells):
    return "| " + " | ".join(str(c) for c in cells) + " |\n"


def ms(summary, key="p50_ms"):
    return f"{summary[key]:.0f} ms" if summary[key] >= 10 else f"{summary[key]:.1f} ms"


def s(summary, key="median"):
    return f"{summary[key]:.1f} s"


def task_table(tasks):
    """[[task name, seconds], ...] as a markdown table."""
    return ("| task | seconds |\n| --- | --- |\n"
            + "".join(row(name.replace("|", "/"), f"{sec:.2f}") for name, sec in tasks) + "\n")


def write(results, path):
    m = results["machine"]
    out = ["# Benchmarks\n\n",
           "Written by `bench/run` (one command; about 40 minutes on 2 cores; not part of `.ci/run`). ",
           "Numbers drift between machines and runs; ratios hold better. Medians unless said otherwise.",
           " Nothing in the test suite asserts a speed.\n\n",
           f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; ",
           f"the test host is a podman systemd container ({m['host_os']}) on it, reached over SSH by Ansible. ",
           f"JupyterHub {m['jupyterhub']}, jupyterhub-traefik-proxy {m['jupyterhub_traefik_proxy']}, ",
           f"traefik {m['traefik']}, jupyterhub-systemdspawner {m['systemdspawner']}, ",
           f"configurable-http-proxy {m['configurable_http_proxy']} on node {m['node']}. ",
           f"Run on {m['date']}{' with --quick (few samples)' if results.get('quick') else ''}.",
           (f" The machine's speed when the run began: a fixed Python loop (10^7 additions) took "
            f"{m['python_loop_s']:.2f} s (runs of different hours compare by it)." if m.get("python_loop_s") else ""),
           f" {results['partial']}" if results.get("partial") else "", "\n\n"]
    targets = []
    header = len(out)

    if "converge" in results:
        c = results["converge"]
        out += ["## 1. Converge (site.yml over SSH, the ephemeral host)\n\n",
                "| run | median | min-max |\n| --- | --- | --- |\n"]
        if c["cold_s"]:
            out.append(row("cold (molecule converge of a fresh host)", f"{c['cold_s']:.1f} s", spread(c.get("cold_runs_s"))))
        if c.get("cold_floor_s"):
            out.append(row("cold floor: the same wheels by plain pip into three venvs, hub and traefik started "
                           "by hand (a fresh host of the same image, no Ansible)", f"{c['cold_floor_s']:.1f} s",
                           spread(c.get("cold_floor_runs_s"))))
        if c.get("cold_uv_floor_runs_s"):
            out.append(row("the same floor with uv by hand (fetched by the bundled pip wheel; `uv venv`, then "
                           "`uv pip install --compile-bytecode`, one cache), not the target's floor",
                           f"{statistics.median(c['cold_uv_floor_runs_s']):.1f} s", spread(c["cold_uv_floor_runs_s"])))
        out.append(row(f"idempotent (changed=0, {c['idempotent_tasks']} tasks)", s(c["idempotent_s"]),
                       f"{c['idempotent_s']['min']:.1f}-{c['idempotent_s']['max']:.1f} s"))
        out.append(row("facts-only play (the floor of any run)", s(c["facts_only_s"]),
                       f"{c['facts_only_s']['min']:.1f}-{c['facts_only_s']['max']:.1f} s"))
        idem = c["idempotent_s"]["median"] / c["facts_only_s"]["median"]
        pairs = c.get("idempotent_pair_ratios") or [idem]
        idem_pairs = statistics.median(pairs)
        out.append(f"\nIdempotent run / facts-only play: **{idem:.1f}x** by medians, {idem_pairs:.1f}x the median of "
                   f"{len(pairs)} pairs (a facts-only play, then an idempotent run: {', '.join(f'{x:.1f}' for x in pairs)}).")
        if c["cold_s"] and c.get("cold_floor_s"):
            cold = c["cold_s"] / c["cold_floor_s"]
            runs, floors = c.get("cold_runs_s") or [c["cold_s"]], c.get("cold_floor_runs_s") or [c["cold_floor_s"]]
            best = min(runs) / min(floors)
            cold_pairs = c.get("cold_pair_ratios") or []
            paired = (f", {statistics.median(cold_pairs):.2f}x the median of {len(cold_pairs)} pairs "
                      f"({', '.join(f'{x:.2f}' for x in cold_pairs)})" if cold_pairs else "")
            out.append(f" Cold converge / its floor: **{cold:.2f}x** by medians, {best:.2f}x best against best{paired} "
                       "(each converge followed by its floor; identical runs on this machine differ by up to 40%, "
                       "so the target counts as met only where medians and best against best both are).")
            targets.append(("cold converge <= 1.25 x floor", f"{cold:.2f}x by medians, {best:.2f}x best against best",
                            cold <= 1.25 and best <= 1.25))
            if c.get("cold_uv_floor_runs_s"):
                uv_floor = statistics.median(c["cold_uv_floor_runs_s"])
                out.append(f" The floor is plain pip, as the target defines it; against the same floor with uv by hand "
                           f"(the installer the roles use by default) the cold converge is {c['cold_s'] / uv_floor:.2f}x by medians.")
        cpu = c.get("cold_cpu_s") or {}
        if cpu.get("host") and cpu.get("controller") and cpu.get("floor"):
            def listed(values):
                return f"{statistics.median(values):.1f} ({', '.join(f'{x:.1f}' for x in values)})"
            work = statistics.median([h + a for h, a in zip(cpu["host"], cpu["controller"])])
            out.append(f" CPU seconds, medians (runs): each cold converge's host {listed(cpu['host'])} and its controller "
                       f"{listed(cpu['controller'])} (ansible-playbook, and molecule's own Python), against the floor's host "
                       f"{listed(cpu['floor'])}: the converge does {work / statistics.median(cpu['floor']):.1f}x the floor's "
                       f"work, on two cores, so it cannot take less than half of it, {work / 2:.1f} s (the floor keeps "
                       "about one core busy)."
                       + (f" The uv floor's host: {listed(cpu['floor_uv'])}." if cpu.get("floor_uv") else ""))
        out.append("\n\n")
        targets.append(("idempotent converge <= 5 x a facts-only play", f"{idem:.1f}x by medians, {idem_pairs:.1f}x by pairs",
                        idem <= 5 and idem_pairs <= 5))
        if c.get("module_calls_s"):
            calls = c["module_calls_s"]["median"]
            per_task = max(0.001, calls - c["facts_only_s"]["median"]) / max(1, c["idempotent_ran"])
            out.append(
                f"What holds the idempotent run: its count of tasks. {c['idempotent_ran']} of its "
                f"{c['idempotent_tasks']} tasks took 0.1 s or more; a module run on the host (a new Python process, "
                "over a kept-open SSH connection with pipelining) costs "
                f"{per_task * 1000:.0f} ms here (a play of {c['idempotent_ran']} of the cheapest, "
                f"`ansible.builtin.stat: path=/`, takes {calls:.1f} s), so what only reads the host runs without one: "
                "the collection's `look` action (one command in the connection's own shell session, 20-60 ms), and "
                "the `files` and `hub_lifecycle` actions, which look first and run their modules only where something "
                "differs. The rest is Ansible's own cost per task on the controller (15-40 ms each: templating its "
                "arguments and condition, a forked worker), including the skipped ones. Its slowest tasks:\n\n"
                + task_table(c["idempotent_slowest"]))
        if c.get("cold_slowest"):
            out.append("The cold converge's slowest tasks, in its median run. The three Python environments install in "
                       "the background (the `venv_install` module: uv, the roles' default installer, or pip, without "
                       "byte-compiling, then `compileall` on every core; uv itself is fetched first, once per host): the users' and the hub's right after the checks and the OS packages (`site.yml` runs "
                       "the hub role's `install_early` before the proxy role), traefik's when the proxy role reaches it. "
                       "Each is waited for where it is first needed (traefik's before traefik starts, the hub's before "
                       "the contributors and the configuration's trial, the users' last, after the hub's health check): "
                       "a wait's time is what was left of its install. The floor does the same installs by plain pip one "
                       "after another (pip compiling on one core) and starts, without Ansible's checks, state files, config "
                       "trial and health waits:\n\n"
                       + task_table(c["cold_slowest"]))
        installs = (c.get("cold_installs") or {}).get("spans")
        if installs and all(span[1] for span in installs.values()):
            first, last = min(span[0] for span in installs.values()), max(span[1] for span in installs.values())
            out.append("Where the median run's time goes (seconds from its first task, of "
                       f"{c['cold_installs']['total_s']:.1f} s of tasks): "
                       + "; ".join(f"`{env}` from {span[0]:.1f} (its install started) to {span[1]:.1f} (its wait ended"
                                   + (f", the wait itself {span[2]:.1f} s" if len(span) > 2 and span[2] is not None else "") + ")"
                                   for env, span in installs.items())
                       + f". From the first install's start to the last wait's end: {last - first:.1f} s"
                       + (f"; the floor's whole run (its OS packages, its three installs one after another, its starts): "
                          f"{c['cold_floor_s']:.1f} s" if c.get("cold_floor_s") else "")
                       + f". Before the first install, {first:.1f} s (the checks, the OS packages, the base directory); "
                       f"after the last wait, {c['cold_installs']['total_s'] - last:.1f} s (what records the run).\n\n")

    if "routes" in results:
        r = results["routes"]
        out += ["## 2. Proxy\n\n### Route changes through each proxy's JupyterHub API class\n\n",
                "On the test host, the hub stopped, N routes registered first; one at a time: add (until the proxy ",
                "serves it: for traefik, until its API lists the route's router), delete, get_all; then 50 ",
                "adds at once (until all are served).\n\n",
                "| routes | proxy | add p50 | add p90 | delete p50 | get_all p50 | 50 adds at once |\n",
                "| --- | --- | --- | --- | --- | --- | --- |\n"]
        one, two = traefik_routes(results, "one"), traefik_routes(results, "two")
        for i, c in enumerate(r["chp"]):
            for name, x in (("traefik", one[i] if one else None), ("traefik + recent tier", two[i] if two else None),
                            ("CHP", c)):
                if x:
                    out.append(row(x["routes"], name, ms(x["add"]), ms(x["add"], "p90_ms"), ms(x["delete"]),
                                   ms(x["get_all"]), f"{x['concurrent']['total_s']:.2f} s"))
        at = {x["routes"]: x for x in two or one}
        for n, limit in ((1000, 100), (5000, 250)):
            if n in at:
                add = at[n]["add"]["p50_ms"]
                targets.append((f"route add p50 <= {limit} ms with {n:,} routes", f"{add:.0f} ms", add <= limit))
        then = BEFORE["figures"]
        for n in (1000, 5000):
            if n in at and f"route_50_adds_s_{n}" in then:
                together, deletes = at[n]["concurrent"]["total_s"], at[n]["delete"]["p50_ms"]
                was, was_delete = then[f"route_50_adds_s_{n}"], then[f"route_delete_p50_ms_{n}"]
                targets.append((f"50 adds at once and deletes no slower than before ({n:,} routes)",
                                f"{together:.2f} s (was {was:.2f} s), delete {deletes:.1f} ms (was {was_delete} ms)",
                                together <= was and deletes <= was_delete))
        out.append("\nWhat an add costs with traefik: the hub writes the route's shard (one of 16 files) and its "
                   "record, and traefik reads every file of the route store again and rebuilds every router; "
                   "the hub then finds the route's router in traefik's API (one call per look, every 50 ms at "
                   "most). Where traefik's "
                   "time goes: section 2b. With a recent tier (`jupyterhub_proxy_recent_tier`, off by default; the "
                   "bench host's setting): the route goes to a second traefik that holds only the routes of the "
                   "last moments and the hub's, which rebuilds those; the hub moves them to the main traefik in "
                   "batches of 50 (or every 30 s), in the background: the 50 adds at once start one such move, "
                   "which the later figures of that size share the cores with.\n\n")
    p = results.get("traefik_profile")
    if p:
        out += ["### 2b. Where an add goes in traefik (its CPU profile)\n\n",
                f"`bench/traefik_profile.py`: traefik {p['traefik']} on the controller (no container), the hub's "
                f"proxy class, N routes registered, then one add after another for {p['seconds']} s while traefik's "
                "pprof endpoint takes a CPU profile; milliseconds of traefik's CPU per add, by what it was doing "
                "(cumulative; the parts overlap: decoding is part of reading the files, the duplicate-key check "
                "part of decoding; parsing the rules for TLS, a new parser for each router and each of two checks of its host names, is half within building the routers, half in merging the configuration before it). 1 shard: every route "
                "in one file (the records and the temp files stay out of it, as now). TLS on the entry point and "
                "traefik's Go settings as the proxy role sets them, unless the row says otherwise.\n\n",
                "| routes | shards | TLS | Go settings | add p50 | traefik CPU per add | reading the files | "
                "... YAML decoding | ... YAML duplicate-key check | building the routers | parsing the rules "
                "for TLS | garbage collection | API calls | traefik's peak memory |\n",
                "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n"]
        for x in p["results"]:
            m = x["ms_per_add"]
            go_env = " ".join(f"{k}={v}" for k, v in x.get("go_env", {}).items()) or "Go's defaults"
            out.append(row(x["routes"], x["shards"], "yes" if x.get("tls") else "no", go_env, ms(x["add"]),
                           f"{x['traefik_cpu_ms_per_add']:.0f} ms",
                           *(f"{m[k]:.0f} ms" if k in m else "-"
                             for k in ("read_files", "decode_yaml", "yaml_duplicate_key_check", "build_routers",
                                       "parse_rules_for_tls", "garbage_collection", "api_calls")),
                           f"{x['traefik_peak_mib']} MiB" if x.get("traefik_peak_mib") else "-"))
        out.append("\n")

    if "throughput" in results:
        t = results["throughput"]
        out += ["### Throughput and latency (HTTPS, one nginx backend, wrk -t2 -c32 on the test host)\n\n",
                "| proxy | req/s | p50 | p99 | non-2xx |\n| --- | --- | --- | --- | --- |\n"]
        medians = {}
        names = {"traefik": "traefik", "traefik_recent": RECENT_PATH, "chp": "CHP"}
        for name in [n for n in names if n in t]:
            runs = t[name]
            medians[name] = sorted(x["req_per_s"] for x in runs)[len(runs) // 2]
            for x in runs:
                out.append(row(names[name], x["req_per_s"], f"{x['p50_ms']} ms", f"{x['p99_ms']} ms", x["non_2xx"]))
        tput = medians["traefik"] / medians["chp"]
        out.append(f"\ntraefik / CHP throughput: **{tput:.1f}x** (the two proxies alternate, two rounds each).\n\n")
        targets.append(("throughput >= 3x CHP", f"{tput:.1f}x", tput >= 3))
        was = BEFORE["figures"]["throughput_req_per_s"]
        targets.append(("throughput not lower than before (within 10%: the two rounds of one run differ by 5%)",
                        f"{medians['traefik']} req/s (was {was})", medians["traefik"] >= 0.9 * was))
        if t.get("ws_traefik"):
            out += ["### Websocket round trips (wss, a tornado echo server, 16 connections each sending 1 KiB and "
                    "waiting for its echo; bench/host/ws_echo.py on the test host)\n\n",
                    "| proxy | messages/s | p50 | p99 |\n| --- | --- | --- | --- |\n"]
            names = {"ws_traefik": "traefik", "ws_traefik_recent": RECENT_PATH, "ws_chp": "CHP"}
            for name in [n for n in names if n in t]:
                for x in t[name]:
                    out.append(row(names[name], x["msg_per_s"], f"{x['p50_ms']} ms", f"{x['p99_ms']} ms"))
            ws = [statistics.median(x["msg_per_s"] for x in t[name]) for name in ("ws_traefik", "ws_chp")]
            out.append(f"\ntraefik / CHP websocket messages/s: **{ws[0] / ws[1]:.1f}x**. The client is Python on the "
                       "same 2 cores: the same ceiling for both proxies.\n\n")
            was = BEFORE["figures"]["websocket_msg_per_s"]
            targets.append(("websocket messages/s not lower than before (within 10%)",
                            f"{ws[0]:.0f} (was {was})", ws[0] >= 0.9 * was))

    out.append("## 3. Slurm spawn\n\n")
    slurm = results.get("slurm")
    if slurm:
        floor = slurm["to_running_s"] + slurm["bare_server_s"]
        out.append(f"The slurm scenario on a real two-node cluster, run by `bench/run` (its tests measure; log of "
                   f"{slurm['log_date']}), medians of {slurm.get('samples', 5)}: spawn POST -> ready **{slurm['spawn_s']:.1f} s**; floor "
                   f"{floor:.1f} s (sbatch -> RUNNING {slurm['to_running_s']:.1f} s + a bare jupyter-server start "
                   f"{slurm['bare_server_s']:.1f} s on the compute node); spawn / floor **{slurm['spawn_s'] / floor:.2f}x**.\n\n")
        if slurm.get("plain_spawn_s"):
            out.append(f"The scenario runs with TLS on the cluster network (`hub_internal_ssl`: a new key and certificate "
                       f"per spawn, TLS both ways). The same spawns without it (`bench/run`'s second run of the "
                       f"scenario, median of {slurm['plain_samples']}): **{slurm['plain_spawn_s']:.1f} s**; with it "
                       f"**{slurm['spawn_s']:.1f} s** ({slurm['spawn_s'] - slurm['plain_spawn_s']:+.1f} s).\n\n")
        if slurm.get("form"):
            form = slurm["form"]
            out.append(f"The spawn form with {form['accounts']} accounts of the user's (Slurm's accounting, slurmdbd on "
                       f"MariaDB): `GET /hub/spawn` median **{form['median_ms']} ms** (max {form['max_ms']} ms, 20 "
                       f"samples, lists from the hub's cache); the `sacctmgr show associations` a page would otherwise "
                       f"wait on: median {form['sacctmgr_ms']} ms.")
            if slurm.get("hopeless_s"):
                out.append(f" A job Slurm holds for good (`QOSMaxWallDurationPerJobLimit`) failed the spawn "
                           f"{slurm['hopeless_s']:.1f} s after the request.")
            out.append("\n\n")
        targets.append(("Slurm spawn <= 1.2 x floor + 0.5 s", f"{slurm['spawn_s']:.1f} s vs {1.2 * floor + 0.5:.1f} s",
                        slurm["spawn_s"] <= 1.2 * floor + 0.5))
    else:
        out.append("Not measured: no log of the slurm scenario in .cache/logs/ (`bench/run --quick` skips it).\n\n")

    if "time_to_ready" in results or "browser" in results:
        out.append("## 4. The ephemeral visitor\n\n| what | median | p95 | min-max |\n| --- | --- | --- | --- |\n")
        if "browser" in results:
            b = results["browser"]
            out.append(row(f"password -> JupyterLab's launcher drawn (chromium, {b['n']} visitors one after another)",
                           s(b), s(b, "p95"), f"{b['min']:.1f}-{b['max']:.1f} s"))
            if b.get("at_lab"):
                a = b["at_lab"]
                out.append(row("... of which: password -> the browser is at the user's JupyterLab page (login, "
                               "spawn, OAuth redirects)", s(a), s(a, "p95"), f"{a['min']:.1f}-{a['max']:.1f} s"))
                out.append(row("... and then JupyterLab loading and drawing in the browser",
                               f"{b['median'] - a['median']:.1f} s", "", ""))
            targets.append(("password -> JupyterLab drawn <= 4 s median (no pool)", s(b), b["median"] <= 4))
        if "time_to_ready" in results:
            t = results["time_to_ready"]
            x = t["ready_s"]
            out.append(row(f"password -> the hub says the server is ready (REST, {x['n']} visitors)", s(x),
                           s(x, "p95"), f"{x['min']:.1f}-{x['max']:.1f} s"))
            spawn = t["mean_s"].get("jupyterhub_server_spawn_duration_seconds")
            add = t["mean_s"].get("jupyterhub_proxy_add_duration_seconds")
            out.append(f"\nWhere the hub spends it (JupyterHub's own metrics, means): spawn (unit start, server "
                       f"start, until it answers) {spawn} s, route add {add} s; the rest of the REST figure is "
                       "login and waiting on the progress stream; the rest of the browser figure is the OAuth "
                       "redirects and JupyterLab loading in the browser.")
            cpu, b = t.get("server_cpu_s"), results.get("browser", {})
            if cpu and b.get("at_lab"):
                out.append(f" What the browser figure is made of: the server's start, {cpu['median']:.1f} s of "
                           "one CPU in its own process (imports and extension loading in jupyter_server, JupyterLab "
                           f"and jupyterhub.singleuser), and JupyterLab's first load in a fresh browser, "
                           f"{b['median'] - b['at_lab']['median']:.1f} s (a new visitor has nothing cached); neither is "
                           "in the hub or the proxy, which take the rest.")
            out.append("\n\n")
    b = results.get("browser", {})
    imports, w = b.get("server_imports"), b.get("workspace_save_wait")
    if imports or w:
        if not out[-1].endswith("\n\n"):
            out.append("\n")
        out.append(f"### What is upstream in a visitor's wait\n\nWhere these figures come from, password -> "
                   f"JupyterLab's launcher drawn took {b['median']:.1f} s (median of {b['n']}), the browser at the "
                   f"user's JupyterLab page after {b['at_lab']['median']:.1f} s.")
        pool = results.get("warm_pool")
        if pool:
            pb = pool["browser"]
            pw = f", {pb['workspace_save_wait']['median']:.1f} s of it the first wait below" \
                if pb.get("workspace_save_wait") else ""
            out.append(f" With a warm pool of {pool['size']}, {pb['median']:.1f} s, the browser at the page after "
                       f"{pb['at_lab']['median']:.1f} s: JupyterLab's load in the browser, "
                       f"{pb['median'] - pb['at_lab']['median']:.1f} s, is nearly all of it{pw}.")
        out.append(" Two parts of the wait are upstream code, which this collection does not patch:\n\n")
    if w:
        out.append(f"- JupyterLab's first load waits {w['median']:.1f} s (median of {w['n']}; {w['min']:.1f}-"
                   f"{w['max']:.1f} s) from its workspace fetched to its first save of it. JupyterLab's router runs its load-state command first (rank "
                   "30 of `@jupyterlab/apputils-extension:state`); that command awaits the workspace's save, "
                   "which a debouncer holds back until 500 ms after the last change to the state; the file browser "
                   "restores, and then the launcher is drawn, only after the router's first route. No setting "
                   "changes the 500 ms.\n")
    if imports:
        g, total = imports["groups_ms"], imports["total_ms"]
        largest = ", ".join(f"{name} {ms}" for name, ms in imports["largest_ms"].items())
        cpu = results.get("time_to_ready", {}).get("server_cpu_s")
        share_of_start = (f"; that share of a server's start, {cpu['median']:.1f} CPU-s in the same run, is "
                          f"about {g['hub_database'] / total * cpu['median']:.2f} s") if cpu else ""
        out.append(f"- A server's imports, as `python -X importtime` counts them ({total} ms; it slows every "
                   "import alike, so the shares hold): the hub's database layer, sqlalchemy and alembic, "
                   f"{g['hub_database']} ms ({100 * g['hub_database'] / total:.0f}%{share_of_start}), though a single-user server "
                   "has no database: `jupyterhub.singleuser` reaches it three ways, `jupyterhub.services.auth` "
                   "imports `jupyterhub.scopes` (for one function), which imports `jupyterhub.orm`; "
                   "`jupyterhub.utils` imports `sqlalchemy.exc` (for one exception class); `jupyterhub.log` "
                   "imports the hub's request handlers (for one `isinstance` check); aiohttp, the client of "
                   f"the hub's API, {g['aiohttp']} ms ({100 * g['aiohttp'] / total:.0f}%); then {largest} ms. "
                   f"Server extensions imported: {', '.join(imports['extensions'])}.\n")
    if imports or w:
        out.append("\n")
    link = results.get("first_load")
    if link:
        out.append(f"### Over an emulated link ({link['mbit']} Mbit/s each way, {link['rtt_ms']} ms added to each "
                   "request: chromium's network emulation)\n\nWhat a visitor on the internet feels; the routes' "
                   "compression (`hub_route_compression`) off, then on (a converge each).\n\n"
                   "| routes | password -> JupyterLab drawn, median | p95 | ... of which JupyterLab loading | "
                   "received by the browser |\n| --- | --- | --- | --- | --- |\n")
        for key, label in (("uncompressed", "not compressed"), ("compressed", "compressed")):
            x = link[key]
            out.append(row(f"{label} ({x['n']} visitors)", s(x), s(x, "p95"),
                           f"{x['median'] - x['at_lab']['median']:.1f} s", f"{x['received_mib']} MiB"))
        out.append("\n")
    if "crowd" in results:
        c = results["crowd"]
        line = (f"{c['visitors']} visitors log in at once: {c['served']} served, "
                f"{'all ready' if c['served'] == c['visitors'] else 'the run over'} after {c['all_ready_s']} s")
        if c["ready_s"]:
            line += f"; password -> ready p50 {s(c['ready_s'])}, p95 {s(c['ready_s'], 'p95')}"
        if c["peak_memory_mib"]:
            line += f"; peak memory of all their servers {c['peak_memory_mib']} MiB"
        out.append(line + ".")
        if c["served"] < c["visitors"]:
            out.append(f" **{c['visitors'] - c['served']} were not ready** within the 600 s the benchmark waits "
                       f"(first error: {c['failures'][0][:160] if c['failures'] else 'none recorded'}).")
        out.append(" Each visitor's client waits on the spawn's progress event stream, as JupyterHub's "
                   "spawn-pending page does; at most twice the CPUs' count of servers start at once "
                   "(`systemd_spawner_concurrent_starts`), the others queue first come, first served.")
        cpu = results.get("time_to_ready", {}).get("server_cpu_s")
        if cpu:
            cores = results["machine"]["cores"]
            last = (c["visitors"] - 1) * cpu["median"] / cores
            out.append(f" One server's start costs {cpu['median']:.1f} s of CPU (median of {cpu['n']}, its own "
                       "process: importing jupyter_server, JupyterLab and jupyterhub.singleuser, loading the "
                       f"extensions), so on {cores} cores the last of {c['visitors']} visitors cannot be ready "
                       f"before about {last:.0f} s even if nothing else ran: that, not the hub or the proxy, sets "
                       f"the p95 of {s(c['ready_s'], 'p95') if c['ready_s'] else '-'} here (the rest of the way to it is the other work on the "
                       f"same cores: the {c['visitors']} clients' TLS, systemd setting up {c['visitors']} units, the memory "
                       "sampling); the hub "
                       "spends "
                       f"{results['time_to_ready']['hub_cpu_per_visitor_s']:.2f} s of CPU per visitor (login, spawn, "
                       "route, progress).")
        out.append("\n\n")
        if c["visitors"] >= 50 and c["ready_s"]:
            targets.append(("50 concurrent visitors all ready, p95 <= 60 s (no pool)",
                            f"{c['served']}/{c['visitors']}, p95 {s(c['ready_s'], 'p95')}",
                            c["served"] == c["visitors"] and c["ready_s"]["p95"] <= 60))

    pool = results.get("warm_pool")
    if pool:
        b, c = pool["browser"], pool["crowd"]
        out.append(f"## 4b. The ephemeral visitor with a warm pool (`systemd_spawner_warm_pool: {pool['size']}`)\n\n"
                   f"The same host converged with a pool of {pool['size']} servers started ahead of visitors "
                   f"({pool['converge_s']} s, the hub restarted); the pool was full {pool['fill_s']} s later "
                   "(at most two servers start at once, and none while a visitor's server starts).\n\n"
                   "| what | median | p95 | min-max |\n| --- | --- | --- | --- |\n")
        out.append(row(f"password -> JupyterLab's launcher drawn (chromium, {b['n']} visitors one after another)",
                       s(b), s(b, "p95"), f"{b['min']:.1f}-{b['max']:.1f} s"))
        if b.get("at_lab"):
            a = b["at_lab"]
            out.append(row("... of which: password -> the browser is at the user's JupyterLab page", s(a),
                           s(a, "p95"), f"{a['min']:.1f}-{a['max']:.1f} s"))
        if c["ready_s"]:
            out.append(row(f"{c['visitors']} visitors at once: password -> ready ({c['served']} served, all ready "
                           f"after {c['all_ready_s']} s; peak memory {c['peak_memory_mib']} MiB)",
                           s(c["ready_s"]), s(c["ready_s"], "p95"),
                           f"{c['ready_s']['min']:.1f}-{c['ready_s']['max']:.1f} s"))
        out.append(f"\nThe first {pool['size']} of the crowd are handed a ready server; the others start "
                   "theirs as without a pool.\n\n")
        targets.append((f"password -> JupyterLab drawn <= 4 s median (warm pool of {pool['size']})", s(b),
                        b["median"] <= 4))
        if c["visitors"] >= 50 and c["ready_s"]:
            targets.append((f"50 concurrent visitors all ready, p95 <= 60 s (warm pool of {pool['size']})",
                            f"{c['served']}/{c['visitors']}, p95 {s(c['ready_s'], 'p95')}",
                            c["served"] == c["visitors"] and c["ready_s"]["p95"] <= 60))

    if "restarts" in results:
        r = results["restarts"]
        req = r["server_requests"]
        out += ["## 5. Hub restarts\n\n| event | -> /hub/health through traefik, median | min-max |\n",
                "| --- | --- | --- |\n",
                row(f"systemctl restart jupyterhub ({r['restart_s']['n']}x)", s(r["restart_s"]),
                    f"{r['restart_s']['min']:.1f}-{r['restart_s']['max']:.1f} s"),
                row(f"kill -9 of the hub ({r['kill_s']['n']}x; systemd restarts it)", s(r["kill_s"]),
                    f"{r['kill_s']['min']:.1f}-{r['kill_s']['max']:.1f} s"),
                f"\nA visitor's server, requested through traefik every 50 ms during all of them: "
                f"{req['failed']} failed of {req['ok'] + req['failed']}.\n\n"]
        targets.append(("hub restart -> healthy through the proxy <= 4 s", s(r["restart_s"]),
                        r["restart_s"]["median"] <= 4))

    if "past_visitors" in results:
        p = results["past_visitors"]
        out += ["## 6. Past visitors in the database\n\n| users in the database | hub restart -> healthy | login |\n",
                "| --- | --- | --- |\n"]
        for x in (p["before"], p["after"]):
            out.append(row(x["users"], s(x["restart_s"]), f"{x['login_s']['median'] * 1000:.0f} ms"))
        out.append("\n")

    course = results.get("course")
    if course:
        out.append(f"## 7. The course hub's returning user\n\nThe course scenario (persistent users, OpenID "
                   f"Connect at LemonLDAP::NG on a second host; its tests measure, log of {course['log_date']}): a "
                   f"returning user whose server is stopped, from the provider's sign-in form sent to JupyterLab's launcher drawn in chromium (the provider's redirect, "
                   f"the hub's login, the spawn, the lab's first load), median of {len(course['samples'])}: "
                   f"**{course['returning_s']:.1f} s** {course['samples']}.\n\n")

    out.insert(header, before_and_after(results))  # first: what changed
    if targets:
        out.append("## Targets\n\n" + TARGETS)
        for what, measured, met in targets:
            out.append(row(what, measured, "yes" if met else "**no**"))
        out.append("\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(out))


if __name__ == "__main__":
    write(json.loads(Path(sys.argv[1]).read_text()), Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md")
