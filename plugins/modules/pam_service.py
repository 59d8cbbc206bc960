#!/usr/bin/python
# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Read a PAM service's auth and account stacks, following its includes (read only)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: pam_service
short_description: Read the modules a PAM service authenticates with, includes followed
description:
  - Reads a PAM service under O(pam_dir) (or the text the role is about to write, O(content)) and returns the
    modules of its C(auth) and C(account) stacks, following C(@include), C(include) and C(substack) into other
    services of O(pam_dir), and which of those modules are not installed on the host.
  - Used by the C(hub) role's preflight for C(hub_authenticator=pam), before anything changes, to refuse a
    service that cannot work for a hub that does not run as root (C(pam_unix) asks C(unix_chkpwd), which the
    hub's sandbox stops) and a service whose modules are missing.
  - Changes nothing on the host.
version_added: 0.3.0
author: unopinionated.jupyterhub developers (@unopinionated)
options:
  name:
    description: The service's name, a file name in O(pam_dir).
    type: str
    required: true
  content:
    description: The service's text, read instead of the file (what the role would write). Its includes are still read from O(pam_dir).
    type: str
  pam_dir:
    description: Where the services are.
    type: path
    default: /etc/pam.d
attributes:
  check_mode:
    support: full
    description: It only reads, in check mode as in any other.
  diff_mode:
    support: none
    description: It changes nothing, so there is no difference to show.
"""

EXAMPLES = r"""
- name: Read the hub's PAM service
  unopinionated.jupyterhub.pam_service:
    name: login
  register: __pam
"""

RETURN = r"""
exists:
  description: Whether the service could be read (its file exists, or O(content) was given).
  type: bool
  returned: always
modules:
  description: The modules of each stack in the order PAM runs them (a module named by path keeps its path).
  type: dict
  returned: always
  contains:
    auth:
      description: The C(auth) stack's modules.
      type: list
      elements: str
    account:
      description: The C(account) stack's modules.
      type: list
      elements: str
missing:
  description: Modules of either stack found in none of the host's PAM module directories.
  type: list
  elements: str
  returned: always
problems:
  description: Includes that could not be read (a missing service, a name that is not a plain file name, a loop).
  type: list
  elements: str
  returned: always
"""

import glob
import os
import re

from ansible.module_utils.basic import AnsibleModule

STACKS = ("auth", "account")
# A service or include name: a plain file name in pam_dir, never a path.
NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+-]*$")
MODULE_DIRS = ("/lib/security", "/lib64/security", "/usr/lib/security", "/usr/lib64/security",
               "/lib/*/security", "/usr/lib/*/security")
MAX_DEPTH = 8


def logical_lines(text):
    """The service's lines, comments dropped and backslash continuations joined."""
    joined, pending = [], ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            joined.append(line)
    if pending.strip():
        joined.append(pending.strip())
    return joined


def split_line(line):
    """(type, control, rest) of one PAM line; control may be a [value=action ...] group."""
    kind, rest = (line.split(None, 1) + [""])[:2]
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            return kind, rest, ""
        return kind, rest[:end + 1], rest[end + 1:].strip()
    control, rest = (rest.split(None, 1) + [""])[:2]
    return kind, control, rest.strip()


def read_stacks(name, pam_dir, content=None, seen=(), problems=None):
    """{stack: [module, ...]} of the service, includes followed; problems appended to ``problems``."""
    problems = [] if problems is None else problems
    stacks = {stack: [] for stack in STACKS}
    if content is None:
        if not NAME.match(name):
            problems.append("%r is not a plain service name" % name)
            return stacks, problems
        if name in seen or len(seen) >= MAX_DEPTH:
            problems.append("%s includes itself (through %s)" % (name, " -> ".join(seen)))
            return stacks, problems
        path = os.path.join(pam_dir, name)
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                content = handle.read()
        except OSError as error:
            problems.append("%s: %s" % (path, error.strerror or error))
            return stacks, problems
    seen = seen + (name,)
    for line in logical_lines(content):
        if line.startswith("@include"):
            included = line[len("@include"):].strip()
            sub = read_stacks(included, pam_dir, seen=seen, problems=problems)[0]
            for stack in STACKS:
                stacks[stack].extend(sub[stack])
            continue
        kind, control, rest = split_line(line)
        kind = kind.lstrip("-").lower()
        if kind not in STACKS or not rest:
            continue
        target = rest.split()[0]
        if control in ("include", "substack"):
            sub = read_stacks(target, pam_dir, seen=seen, problems=problems)[0]
            stacks[kind].extend(sub[kind])
        else:
            stacks[kind].append(target)
    return stacks, problems


def installed(module, dirs=MODULE_DIRS):
    if module.startswith("/"):
        return os.path.isfile(module)
    return any(glob.glob(os.path.join(pattern, module)) for pattern in dirs)


def read_service(name, pam_dir="/etc/pam.d", content=None, dirs=MODULE_DIRS):
    exists = content is not None or (bool(NAME.match(name)) and os.path.isfile(os.path.join(pam_dir, name)))
    stacks, problems = read_stacks(name, pam_dir, content=content)
    modules = [module for stack in STACKS for module in stacks[stack]]
    missing = sorted({module for module in modules if not installed(module, dirs)})
    return {"exists": exists, "modules": stacks, "missing": missing, "problems": problems}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            content=dict(type="str"),
            pam_dir=dict(type="path", default="/etc/pam.d"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    module.exit_json(changed=False, **read_service(params["name"], params["pam_dir"], params["content"]))


if __name__ == "__main__":
    main()
