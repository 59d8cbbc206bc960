#!/usr/bin/python
# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Install pins into a Python environment in one module run: create the venv where there is
none, uv or pip (hashed pins in hash-checking mode, then the others), byte-compile on every core,
and the environment's .pth file and pyvenv.cfg setting. uv is fetched first where the host lacks
it, by the pip wheel the host's Python bundles."""

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
  - >-
    With O(installer=uv), L(uv,https://docs.astral.sh/uv/) creates the venv (C(uv venv), then the pip
    wheel the host's Python bundles, and setuptools' below Python 3.12, as C(python -m venv) would) and
    installs, with its cache in O(uv.cache): an environment installed after another on the same host
    links the files they share instead of unpacking them again. Where O(uv.dir) lacks the version
    O(uv.requirements) pins, the pip wheel the host's Python bundles (Debian's C(python3-pip-whl),
    or C(ensurepip)'s) installs it there first, in hash-checking mode, with O(pip_args) and pip's
    environment; background installs of the same host take turns at it (a lock on its parent directory).
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
    description: Installer options for both installs (index, find-links); pip and uv spell them alike.
    type: list
    elements: str
    default: []
  installer:
    description: What installs (and creates the venv where there is none).
    type: str
    choices: [pip, uv]
    default: pip
  uv:
    description: Where uv lives on the host, required with O(installer=uv).
    type: dict
    suboptions:
      dir:
        description: uv's directory (pip's C(--target)); the binary is C(bin/uv) in it.
        type: path
        required: true
      cache:
        description: uv's cache (C(UV_CACHE_DIR)), on the environments' file system so that files are linked.
        type: path
        required: true
      config:
        description: A C(uv.toml) uv reads (C(UV_CONFIG_FILE)) where the file exists (the index's address).
        type: path
      requirements:
        description: uv's pin, with C(--hash) options.
        type: list
        elements: str
        required: true
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

import fcntl
import glob
import os
import re
import shutil
import sys
import sysconfig
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.unopinionated.jupyterhub.plugins.module_utils import host_files

PTH_NAME = "unopinionated_jupyterhub.pth"
PURELIB = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
ROOT_FILE = {"owner": "root", "group": "root", "mode": "0644"}


def install_commands(base, hashed_file, unhashed, hashed_options=()):
    """The installer's runs, in order: the hashed pins from their file, then the others by name (after
    --, so that a spec which looks like an option stays a requirement)."""
    commands = []
    if hashed_file:
        commands.append(base + list(hashed_options) + ["--require-hashes", "-r", hashed_file])
    if unhashed:
        commands.append(base + ["--"] + list(unhashed))
    return commands


def pip_commands(python, hashed_file, unhashed, pip_args):
    """pip's runs (install_commands), without byte-compiling."""
    return install_commands([python, "-m", "pip", "install", "--no-compile", "--disable-pip-version-check"]
                            + list(pip_args), hashed_file, unhashed)


def uv_commands(uv, python, hashed_file, unhashed, pip_args):
    """uv's runs (install_commands) into the environment of python. The hashed pins without resolving
    (--no-deps): uv's hash-checking mode wants a hash for every package of a resolution, those already
    installed too (pip's only for what it installs), and the pins a run lacks are a subset of a lock
    whose other pins are installed. uv_check then finds any dependency that none of them brought."""
    return install_commands([uv, "pip", "install", "--python", python] + list(pip_args), hashed_file, unhashed,
                            ["--no-deps"])


def uv_check(uv, python):
    """uv's check that every installed package's dependencies are installed, at versions it accepts."""
    return [uv, "pip", "check", "--python", python]


def wheel_version(path):
    """A wheel file's version as a tuple of numbers (pip-23.0.1-py3-none-any.whl: (23, 0, 1))."""
    return tuple(int(part) for part in re.findall(r"\d+", os.path.basename(path).split("-")[1]))


def bundled_wheel(name, version_info=sys.version_info, stdlib=None):
    """The newest wheel of name that the interpreter bundles for venv and ensurepip: Debian's and
    Fedora's python-wheels directories, or ensurepip's own. None where there is none."""
    dirs = ["/usr/share/python-wheels", "/usr/share/python3-wheels",
            f"/usr/share/python{version_info[0]}.{version_info[1]}-wheels",
            os.path.join(stdlib or sysconfig.get_path("stdlib"), "ensurepip", "_bundled")]
    found = [path for directory in dirs for path in glob.glob(os.path.join(directory, f"{name}-*.whl"))]
    return max(found, key=wheel_version) if found else None


def uv_pin_version(requirements):
    """The version uv's pin names (uv==0.13.9 ...)."""
    for line in requirements:
        match = re.match(r"^\s*uv\s*==\s*([0-9][^\s;\\]*)", line)
        if match:
            return match.group(1)
    return None


def uv_environment(settings):
    """What every uv run gets besides the task's environment (the CA bundle there, SSL_CERT_FILE)."""
    environment = {"UV_CACHE_DIR": settings["cache"], "UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
    if settings.get("config") and os.path.exists(settings["config"]):
        environment["UV_CONFIG_FILE"] = settings["config"]
    return environment


def ensure_uv(module, settings, pip_args):
    """uv's binary, at the pinned version: fetched into settings['dir'] where it is not there yet."""
    directory = settings["dir"]
    binary = os.path.join(directory, "bin", "uv")
    version = uv_pin_version(settings["requirements"])
    if not version:
        module.fail_json(msg=f"uv's requirements name no uv==VERSION: {settings['requirements']}")
    marker = os.path.join(directory, f"uv-{version}.dist-info")
    parent = os.path.dirname(directory.rstrip("/"))
    os.makedirs(parent, mode=0o755, exist_ok=True)
    handle = os.open(parent, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # the other background installs of this host wait here
        if os.path.isdir(marker) and os.access(binary, os.X_OK):
            return binary
        pip = bundled_wheel("pip")
        if not pip:
            module.fail_json(msg="Fetching uv needs the pip wheel the host's Python bundles (Debian: python3-pip-whl), "
                                 "and there is none; install it, or set jupyterhub_installer: pip")
        fresh = tempfile.mkdtemp(prefix=".uv-", dir=parent)
        try:
            lock = os.path.join(fresh, "uv-requirements.txt")
            with open(lock, "w", encoding="utf-8") as pins:
                pins.write("\n".join(settings["requirements"]) + "\n")
            run(module, [sys.executable, os.path.join(pip, "pip"), "install", "--no-compile", "--no-deps",
                         "--disable-pip-version-check", "--target", os.path.join(fresh, "uv")]
                + list(pip_args) + ["--require-hashes", "-r", lock], f"Fetching uv {version} into {directory}")
            os.chmod(os.path.join(fresh, "uv"), 0o755)
            old = os.path.join(fresh, "old")
            if os.path.lexists(directory):
                os.rename(directory, old)
            os.rename(os.path.join(fresh, "uv"), directory)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        return binary
    finally:
        os.close(handle)


SEED_VERSION = "import sys; print(sys.version_info[0], sys.version_info[1], sysconfig.get_path('stdlib'))"


def seed(module, uv, python, environ):
    """What python -m venv puts into a new venv, from the same wheels: pip, and setuptools below 3.12."""
    major, minor, stdlib = run(module, [python, "-I", "-c", "import sysconfig; " + SEED_VERSION],
                               f"Asking {python} for its version", environ).split()
    version_info = (int(major), int(minor))
    names = ["pip"] + (["setuptools"] if version_info < (3, 12) else [])
    wheels = [bundled_wheel(name, version_info, stdlib) for name in names]
    if not wheels[0]:
        module.fail_json(msg=f"{python} bundles no pip wheel for a new venv (Debian: python3-pip-whl)")
    run(module, [uv, "pip", "install", "--python", python, "--no-index", "--no-deps", "--"] + [w for w in wheels if w],
        f"Installing pip into {os.path.dirname(os.path.dirname(python))}", environ)


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


def run(module, argv, what, environ=None):
    rc, out, err = module.run_command(argv, expand_user_and_vars=False, environ_update=environ or {})
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
            "installer": {"type": "str", "choices": ["pip", "uv"], "default": "pip"},
            "uv": {"type": "dict", "options": {
                "dir": {"type": "path", "required": True},
                "cache": {"type": "path", "required": True},
                "config": {"type": "path"},
                "requirements": {"type": "list", "elements": "str", "required": True},
            }},
            "pth": {"type": "str"},
            "system_site_packages": {"type": "bool", "default": False},
        },
        required_if=[("installer", "uv", ["uv"])],
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
    uv = environ = None
    if params["installer"] == "uv":
        uv = ensure_uv(module, params["uv"], params["pip_args"])
        environ = uv_environment(params["uv"])
    if created and uv:
        # --allow-existing: what a directory already holds stays, as python -m venv leaves it.
        run(module, [uv, "venv", "--quiet", "--no-project", "--allow-existing", "--python", params["python"], env],
            f"Creating the venv {env}", environ)
    elif created:
        run(module, [params["python"], "-m", "venv", env], f"Creating the venv {env}")
    if uv and os.path.exists(os.path.join(env, "pyvenv.cfg")) and not os.path.exists(os.path.join(env, "bin", "pip")):
        seed(module, uv, python, environ)  # a venv uv made (in this run, or one that stopped before this)
    hashed_file = None
    commands = []
    try:
        if params["hashed"]:
            handle, hashed_file = tempfile.mkstemp(suffix=".txt", dir=module.tmpdir)
            with os.fdopen(handle, "w", encoding="utf-8") as lock:
                lock.write("\n".join(params["hashed"]) + "\n")
        if uv:
            commands = uv_commands(uv, python, hashed_file, params["unhashed"], params["pip_args"])
        else:
            commands = pip_commands(python, hashed_file, params["unhashed"], params["pip_args"])
        for argv in commands:
            run(module, argv, f"{params['installer']} install into {env}", environ)
        if uv and hashed_file:
            run(module, uv_check(uv, python), f"The hashed pins installed into {env} lack a dependency that is neither "
                "installed nor pinned with its hashes (pip's hash-checking mode refuses that too); uv pip check", environ)
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
