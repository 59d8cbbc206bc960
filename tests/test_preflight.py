"""Every bad input of tests/bad_inputs.yml ('preflight', and 'compute_preflight' as hosts of
jupyterhub_compute_hosts), through the collection's preflight
playbook on this controller (preflight only reads; nothing here has a host to change): each
is refused, and its message names what is wrong and only that (issue 30: a combined assert
printed every condition of its group, the valid ones too). The faults scenario runs the same
table against a converged host, for what only a host shows (nothing changes, the hub runs on).
One ansible-playbook run, every case a host of its own (~1 minute: a repository check, not
the unit layer's)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

TABLE = yaml.safe_load((ROOT / "tests" / "bad_inputs.yml").read_text())
# The cases' neighbours: the variables of every scenario (the compute hosts' too, as in the
# scenarios: among them the package index, without which uv's guard reads this controller's own
# pip configuration), and the faults scenario's own.
SHARED = (yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
          ["provisioner"]["inventory"]["group_vars"]["all"])
SCENARIO = dict(
    SHARED,
    **yaml.safe_load((ROOT / "molecule" / "faults" / "molecule.yml").read_text())
    ["provisioner"]["inventory"]["group_vars"]["jupyterhub_hosts"])
# The issue's own example, and the defaults, which must pass.
EXTRA = [{"vars": {"hub_public_url": "probe-hub/"}, "says": "hub_public_url must be", "alone": "hub_bind_url"},
         {"vars": {}, "says": None}]
# Ansible's line for a failed task, with or without a loop item.
FAILED = re.compile(r"^(?:fatal|failed): \[(case-\d+)\](?: \(item=.*?\))?(?:: FAILED!)? => (\{.*\})$", re.M)


def test_each_bad_input_is_refused_with_a_message_about_it_alone(tmp_path):
    cases = TABLE["preflight"] + EXTRA
    compute = TABLE["compute_preflight"] + [{"vars": {}, "says": None}]
    local = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    hosts = {f"case-{number:02d}": dict(case["vars"], **local) for number, case in enumerate(cases)}
    compute_hosts = {f"case-{number:02d}": dict(case["vars"], **local)
                     for number, case in enumerate(compute, start=len(cases))}
    cases += compute
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"jupyterhub_hosts": {"hosts": hosts, "vars": SCENARIO},
                                         "jupyterhub_compute_hosts": {"hosts": compute_hosts, "vars": SHARED}}))
    # This checkout as the collection, wherever it is cloned.
    (tmp_path / "ansible_collections" / "unopinionated").mkdir(parents=True)
    (tmp_path / "ansible_collections" / "unopinionated" / "jupyterhub").symlink_to(ROOT)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), str(ROOT / "playbooks" / "preflight.yml"),
         "-i", str(inventory), "--forks", "25"], capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path,
        env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(tmp_path), ANSIBLE_NOCOLOR="1"))
    output = result.stdout + result.stderr
    messages = {}
    for host, answer in FAILED.findall(result.stdout):
        messages.setdefault(host, str(yaml.safe_load(answer).get("msg", "")))

    problems = []
    for number, case in enumerate(cases):
        message = messages.get(f"case-{number:02d}")
        if case["says"] is None:
            if message is not None:
                problems.append(f"the defaults were refused: {message[:400]}")
            continue
        if message is None or case["says"] not in message:
            problems.append(f"{case['vars']}: the message does not say {case['says']!r}: {str(message)[:400]}")
            continue
        # The collection's own checks number their messages when more than one is refused;
        # the argument spec's errors are Ansible's, and left as Ansible prints them.
        numbered = len(re.findall(r"(?:^|\. )\((\d+)\) ", message))
        refusals = 1 if message.startswith("Validation of arguments failed") else max(numbered, 1)
        if refusals != case.get("refusals", 1):
            problems.append(f"{case['vars']}: {refusals} refusals, not {case.get('refusals', 1)}: {message[:400]}")
        if case.get("alone") and case["alone"] in message:
            problems.append(f"{case['vars']}: the message speaks of {case['alone']}, which is valid: {message[:400]}")
    assert problems == [], "\n".join(problems) + "\n" + output[-2000:]
