"""The lock of this Python environment as installed, for a site repository to commit.

Run by the environment's own interpreter with the lock it was built from on stdin
(pip's requirements format). Prints one entry per installed distribution (pip's
own pip, setuptools and wheel aside, as pip freeze leaves them out), sorted by name:
the lock's entry, hashes and all, where the lock pins that very version, or
NAME==VERSION (no hash: installed by name, e.g. hub_pip_extra_requirements or a
spawner's package). Only local metadata is read.
"""

import re
import sys
from importlib import metadata

HASH = re.compile(r"\s+--hash[=\s]\S+")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;#]+)")


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


locked = {}
text = re.sub(r"\\[ \t]*\n", " ", sys.stdin.read())
for line in text.splitlines():
    line = re.sub(r"(^|\s+)#.*$", "", line).strip()
    match = PIN.match(HASH.sub("", line))
    if match:
        hashes = HASH.findall(line)
        locked[(normalize(match.group(1)), match.group(3))] = [h.strip() for h in hashes]

installed = {}
for dist in metadata.distributions():
    name = dist.metadata["Name"] or ""
    installed.setdefault(normalize(name), (name, dist.version))

lines = [
    "# The hub environment as installed (written back by unopinionated.jupyterhub:",
    "# hub_venv_lock_write_back). Commit it and set hub_venv_requirements_file to it:",
    "# entries with --hash are checked; entries without were installed by name.",
]
for key in sorted(installed):
    if key in ("pip", "setuptools", "wheel"):
        continue
    name, version = installed[key]
    hashes = locked.get((key, version), [])
    lines.append(" \\\n    ".join([f"{name}=={version}"] + hashes))
print("\n".join(lines))
