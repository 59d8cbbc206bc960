#!/usr/bin/python
# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Install pins into a Python environment in one module run: create the venv where there is
none, pip (hashed pins in hash-checking mode, then the others), byte-compile on every core, and
the environment's .pth file and pyvenv.cfg setting."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: venv_install
short_description: Install pins into a Python environment in one module run
description:
  - >-
    What the collection's C(_common/tasks/venv.yml) runs when an environment lacks pins: creates the venv
    with O(python) where O(dir) has none, installs O(hashed) with pip's C(--require-hashes) from a
    requirements file of its own (removed afterwards), then O(unhashed) by name, with O(pip_args) for both.
  - >-
    pip runs with C(--no-compile); the environment's package directory is then byte-compiled by
    C(compileall) with one process per core (pip compiles file by file, on one core: half of the users'
    environment's install time on 2 cores). What pip installs is compiled all the same, so no user's or
    the hub's first start compiles it.
  - Writes O(pth) into the package directory and sets C(include-system-site-packages) in C(pyvenv.cfg) as asked.
  - Run C(async) with C(poll=0) to install while the play goes on, and wait with C(ansible.builtin.async_status).
version_added: 0.3.0
author: unopinionated.jupyterhub developers (@unopinionated)
options:
  dir:
    description: The environment's directory.
    type: path
    required: true
  python:
    description: The interpreter that creates the venv when O(dir) has no C(bin/python); without it, the environment must exist.
    type: str
  hashed:
    description: Requirement lines with C(--hash) options, installed in pip's hash-checking mode.
    type: list
    elements: str
    default: []
  unhashed:
    description: Requirement specifiers installed by name, after O(hashed).
    type: list
    elements: str
    default: []
  pip_args:
    description: pip options for both installs (index, find-links).
    type: list
    elements: str
    default: []
  pth:
    description: The text of C(unopinionated_jupyterhub.pth) in the package directory; without it, no such file is written.
    type: str
  system_site_packages:
    description: >-
      Whether C(pyvenv.cfg) says C(include-system-site-packages = true), set after the install (pip
      installs into an isolated venv, so nothing the system has stands in for a pin).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: Reports a change and installs nothing.
  diff_mode:
    support: none
    description: No diff; the role's check says which pins are missing.
  platform:
    support: full
    platforms: posix
    description: POSIX hosts with Python 3.
"""

EXAMPLES = r"""
- name: Install the users' environment in the background
  unopinionated.jupyterhub.venv_install:
    dir: /opt/jupyterhub/user-env
    python: /usr/bin/python3
    hashed: ["jupyterlab==4.4.0 --hash=sha256:0123..."]
  async: 3600
  poll: 0
  register: install
"""

RETURN = r"""
created:
  description: Whether the venv was created.
  returned: success
  type: bool
purelib:
  description: The environment's package directory.
  returned: success, not in check mode
  type: str
"""

import os
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.unopinionated.jupyterhub.plugins.module_utils import host_files

PTH_NAME = "unopinionated_jupyterhub.pth"
PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
ROOT_FILE = {"owner": "root", "group": "root", "mode": "0644"}


def pip_commands(python, hashed_file, unhashed, pip_args):
    """The pip runs, in order: the hashed pins from their file, then the others by name."""
    base = [python, "-m", "pip", "install", "--no-compile", "--disable-pip-version-check"] + list(pip_args)
    commands = []
    if hashed_file:
        commands.append(base + ["--require-hashes", "-r", hashed_file])
    if unhashed:
        commands.append(base + ["--"] + list(unhashed))
    return commands


def with_system_site_packages(text):
    """pyvenv.cfg's text with include-system-site-packages = true (its other lines kept)."""
    lines = [entry for entry in text.splitlines() if entry.split("=", 1)[0].strip() != "include-system-site-packages"]
    return "\n".join(lines + ["include-system-site-packages = true"]) + "\n"


def tail(text, lines=30):
    return "\n".join(text.rstrip().splitlines()[-lines:])


def settle_text(path, text):
    """Make path hold text, root's and 0644, where it does not (never written through a link)."""
    content = text.encode("utf-8")
    if host_files.differs(path, content, ROOT_FILE):
        host_files.write_file(path, content, ROOT_FILE)


def run(module, argv, what):
    rc, out, err = module.run_command(argv, expand_user_and_vars=False)
    if rc != 0:
        module.fail_json(msg=f"{what} failed (exit {rc}): {tail(err or out)}", cmd=argv, rc=rc, stdout=out, stderr=err)
    return out


def main():
    module = AnsibleModule(
        argument_spec={
            "dir": {"type": "path", "required": True},
            "python": {"type": "str"},
            "hashed": {"type": "list", "elements": "str", "default": []},
            "unhashed": {"type": "list", "elements": "str", "default": []},
            "pip_args": {"type": "list", "elements": "str", "default": []},
            "pth": {"type": "str"},
            "system_site_packages": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    params = module.params
    env = params["dir"]
    python = os.path.join(env, "bin", "python")
    created = not os.path.exists(python)
    if created and not params["python"]:
        module.fail_json(msg=f"{env} has no bin/python, and no interpreter (python) was given to create a venv there")
    if module.check_mode:
        module.exit_json(changed=True, created=created)
    if created:
        run(module, [params["python"], "-m", "venv", env], f"Creating the venv {env}")
    hashed_file = None
    commands = []
    try:
        if params["hashed"]:
            handle, hashed_file = tempfile.mkstemp(suffix=".txt", dir=module.tmpdir)
            with os.fdopen(handle, "w", encoding="utf-8") as lock:
                lock.write("\n".join(params["hashed"]) + "\n")
        commands = pip_commands(python, hashed_file, params["unhashed"], params["pip_args"])
        for argv in commands:
            run(module, argv, f"pip install into {env}")
    finally:
        if hashed_file:
            os.unlink(hashed_file)
    purelib = run(module, [python, "-I", "-c", PURELIB], f"Asking {python} for its package directory").strip()
    if commands:
        # Errors (a file that is not Python 3) are pip's to ignore too; Python then reads the source.
        rc, out, err = module.run_command([python, "-I", "-m", "compileall", "-q", "-j", "0", purelib])
        if rc != 0:
            module.warn(f"compileall left some files of {purelib} uncompiled: {tail(out or err, 5)}")
    if params["pth"] is not None:
        settle_text(os.path.join(purelib, PTH_NAME), params["pth"])
    if params["system_site_packages"]:
        config = os.path.join(env, "pyvenv.cfg")
        settle_text(config, with_system_site_packages((host_files.read(config) or b"").decode("utf-8")))
    module.exit_json(changed=True, created=created, purelib=purelib)


if __name__ == "__main__":
    main()
