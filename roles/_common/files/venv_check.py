"""Does this Python environment hold every pin read from stdin?

Run by the environment's own interpreter. Reads pinned requirements
(NAME==VERSION, optional [extras] and ; markers, comments) from stdin and prints
a JSON object: the pins it does not satisfy, and where the collection's .pth file
goes and whether it holds argv[1]. Only local metadata is read: no
package index is asked, so the answer is fast and the same in check mode.
"""

import json
import os
import re
import sys
import sysconfig
from importlib import metadata

PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;#]+)\s*(;[^#]*)?")


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def wanted(lines):
    for line in lines:
        line = line.split("#", 1)[0]
        if not line.strip():
            continue
        match = PIN.match(line)
        if not match:
            yield line.strip(), None, None
            continue
        name, version, marker = match.group(1, 3, 4)
        if marker:
            try:
                from packaging.markers import Marker
            except ImportError:  # pip vendors packaging; fall back to pip on a marker
                yield line.strip(), None, None
                continue
            if not Marker(marker[1:].strip()).evaluate():
                continue
        yield line.strip(), normalize(name), version


# In sys.path order, the first of a name wins, as for imports: a venv that also sees the
# system's site-packages (the users' env, for pip install --user) must be judged by its own.
installed = {}
for dist in metadata.distributions():
    installed.setdefault(normalize(dist.metadata["Name"] or ""), dist.version)
missing = [pin for pin, name, version in wanted(sys.stdin) if name is None or installed.get(name) != version]
# The collection's .pth file (argv[1]: its wanted content): where it goes, and is it there?
pth = os.path.join(sysconfig.get_paths()["purelib"], "unopinionated_jupyterhub.pth")
try:
    with open(pth) as f:
        pth_ok = f.read() == sys.argv[1]
except OSError:
    pth_ok = False
print(json.dumps({"missing": missing, "pth": pth, "pth_ok": pth_ok}))
