#!/usr/bin/python
# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Look at something on the host with one command (the action of the same name runs it without
this module where the connection pipelines)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: look
short_description: Run one command that only reads the host, without a Python module where the connection pipelines
description:
  - >-
    Runs O(argv) on the host and returns what it printed, like C(ansible.builtin.command) with
    C(changed_when=false); for the collection's looks at the host that every converge takes (packages,
    accounts, a Python environment's pins, a unit's state).
  - >-
    Where the connection pipelines (C(ansible_pipelining), as over SSH with C(pipelining = true)), the action
    runs the command in the connection's own shell session, each word of O(argv) quoted for the host's POSIX
    shell (nothing is split, expanded or globbed), O(stdin) handed over the same pipe. That is one round trip of
    the connection (about 20 ms here) instead of a Python module's start on the host (about 190 ms). Elsewhere
    this module runs it, with the same arguments and results; so does a task that sets C(environment).
  - Never reports a change, and runs in check mode too. Give it only commands that change nothing lasting.
  - Fails when the command exits other than 0 (C(failed_when) decides otherwise, as for any task).
version_added: 0.3.0
author: unopinionated.jupyterhub developers (@unopinionated)
options:
  argv:
    description: The command and its arguments, each passed as one word.
    type: list
    elements: str
    required: true
  stdin:
    description: Text the command reads on its standard input, as given (no newline added); without it, /dev/null.
    type: str
attributes:
  check_mode:
    support: full
    description: Runs in check mode too, as it only reads.
  diff_mode:
    support: none
    description: Changes nothing.
  platform:
    support: full
    platforms: posix
    description: Runs on POSIX hosts, through the host's C(/bin/sh).
"""

EXAMPLES = r"""
- name: Look up the hub's user and group
  unopinionated.jupyterhub.look:
    argv: [getent, passwd, jupyterhub]
  register: hub_account
  failed_when: hub_account.rc not in [0, 2]
"""

RETURN = r"""
rc:
  description: The command's exit status.
  returned: always
  type: int
stdout:
  description: What it printed on its standard output.
  returned: always
  type: str
stderr:
  description: What it printed on its standard error.
  returned: always
  type: str
stdout_lines:
  description: RV(stdout) split into lines.
  returned: always
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(
        argument_spec={"argv": {"type": "list", "elements": "str", "required": True}, "stdin": {"type": "str"}},
        supports_check_mode=True,
    )
    stdin = module.params["stdin"]
    # As the action runs it: every word as given (no ~ or $NAME expanded), the input as given.
    rc, out, err = module.run_command(module.params["argv"], data=stdin or None, binary_data=True, encoding=None,
                                      expand_user_and_vars=False)
    # Without the trailing newlines, as ansible.builtin.command.
    out, err = out.decode("utf-8", "replace").rstrip("\r\n"), err.decode("utf-8", "replace").rstrip("\r\n")
    result = {"changed": False, "rc": rc, "stdout": out, "stderr": err, "stdout_lines": out.splitlines(),
              "stderr_lines": err.splitlines(), "cmd": module.params["argv"]}
    if rc != 0:
        module.fail_json(msg="non-zero return code", **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
