"""Does this Python environment hold every pin read from stdin?

Run by the environment's own interpreter. Reads pinned requirements
(NAME==VERSION, optional [extras], ; markers, --hash options, comments and \
continuation lines, as pip's requirements files have them) from stdin and prints
a JSON object: the entries it does not satisfy (each on one line, with its
hashes), and where the collection's .pth file goes and whether it holds argv[1].
Only local metadata is read: no package index is asked, so the answer is fast and
the same in check mode.

With --lock as argv[1] it prints instead the environment's installed set as a lock
(the hub role's hub_venv_lock_write_back): one entry per installed distribution
(pip, setuptools and wheel aside, as pip freeze leaves them out), sorted by name,
with the hashes of the stdin lock's entry where it pins that very version, and as
NAME==VERSION (installed by name, no hash) otherwise.

It is also the collection's one reader of the lock grammar: the known_hashes filter,
tools/hash-lock and the tests import logical_lines, pins and normalize from this file.
"""

import json
import os
import re
import sys
import sysconfig

HASH = re.compile(r"\s+--hash[=\s]\S+")
# NAME[extras]==VERSION [; marker]: a version of PEP 440's characters only, ending the entry
# or followed by its marker; any other line is not a pin (pip judges it, and says why).
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([A-Za-z0-9][A-Za-z0-9.+!_-]*)"
                 r"\s*(;\s*[^#\s][^#]*)?(?:#.*)?$")


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def logical_lines(lines):
    """pip's reading: comments dropped, then continuation lines joined."""
    joined = ""
    for line in lines:
        line = re.sub(r"(^|\s+)#.*$", "", line.rstrip("\n"))
        if line.endswith("\\"):
            joined += line[:-1] + " "
            continue
        joined = " ".join((joined + line).split())
        if joined:
            yield joined
        joined = ""
    joined = " ".join(joined.split())
    if joined:
        yield joined


def pins(text):
    """{normalized name: (version, [--hash=... options])} of the NAME==VERSION entries of a
    requirements text (markers not evaluated: every entry, as a lock lists them)."""
    found = {}
    for line in logical_lines(text.splitlines()):
        match = PIN.match(HASH.sub("", line))
        if match:
            found[normalize(match.group(1))] = (match.group(3), [h.strip() for h in HASH.findall(line)])
    return found


def wanted(lines):
    for line in logical_lines(lines):
        match = PIN.match(HASH.sub("", line))
        if not match:
            yield line, None, None
            continue
        name, version, marker = match.group(1, 3, 4)
        if marker:
            try:
                from packaging.markers import Marker
            except ImportError:  # pip vendors packaging; fall back to pip on a marker
                yield line.strip(), None, None
                continue
            try:
                applies = Marker(marker[1:].strip()).evaluate()
            except Exception:  # an invalid marker: pip says what is wrong with it
                yield line.strip(), None, None
                continue
            if not applies:
                continue
        yield line, normalize(name), version


def installed_distributions():
    """{normalized name: (name, version)} of this interpreter's environment."""
    from importlib import metadata  # 25 ms to import, and every distribution's metadata read: when needed

    # In sys.path order, the first of a name wins, as for imports: a venv that also sees the
    # system's site-packages (the users' env, for pip install --user) must be judged by its own.
    installed = {}
    for dist in metadata.distributions():
        installed.setdefault(normalize(dist.metadata["Name"] or ""), (dist.metadata["Name"], dist.version))
    return installed


def dist_info_versions():
    """{normalized name: version} read from the names of the .dist-info directories on sys.path
    (NAME-VERSION.dist-info, as installers name them), the first of a name winning: a look of a few
    milliseconds that can only miss what it cannot read from a name (then the metadata decides)."""
    found = {}
    for directory in sys.path:
        try:
            entries = os.listdir(directory or ".")
        except OSError:
            continue
        for entry in entries:
            if entry.endswith(".dist-info"):
                name, separator, version = entry[:-len(".dist-info")].partition("-")
                if separator and name and version:
                    found.setdefault(normalize(name), version)
    return found


def main(argv, stdin):
    if argv == ["--lock"]:
        installed = installed_distributions()
        hashes = {(name, version): [h.strip() for h in HASH.findall(line)] for line, name, version in wanted(stdin)}
        print("# The hub environment as installed (written back by unopinionated.jupyterhub:")
        print("# hub_venv_lock_write_back). Commit it and set hub_venv_requirements_file to it:")
        print("# entries with --hash are checked; entries without were installed by name.")
        for key, (name, version) in sorted(installed.items()):
            if key not in ("pip", "setuptools", "wheel"):
                print(" \\\n    ".join([f"{name}=={version}"] + hashes.get((key, version), [])))
        return
    pinned = list(wanted(stdin))
    found = dist_info_versions()
    missing = [pin for pin, name, version in pinned if name is None or found.get(name) != version]
    if missing:  # what the directories' names did not show: the distributions' metadata decides
        installed = installed_distributions()
        missing = [pin for pin, name, version in pinned
                   if name is None or installed.get(name, (None, None))[1] != version]
    # The collection's .pth file (argv[0]: its wanted content): where it goes, and is it there?
    pth = os.path.join(sysconfig.get_paths()["purelib"], "unopinionated_jupyterhub.pth")
    try:
        with open(pth) as f:
            pth_ok = f.read() == argv[0]
    except OSError:
        pth_ok = False
    print(json.dumps({"missing": missing, "pth": pth, "pth_ok": pth_ok,
                      "system_site_packages": system_site_packages(sys.prefix)}))


def system_site_packages(prefix):
    """Does the venv at prefix see the system's site-packages (pyvenv.cfg's include-system-site-packages)?
    False where there is no pyvenv.cfg (not a venv: conda's environments)."""
    try:
        with open(os.path.join(prefix, "pyvenv.cfg")) as f:
            lines = f.read().splitlines()
    except OSError:
        return False
    for line in lines:
        key, separator, value = line.partition("=")
        if separator and key.strip().lower() == "include-system-site-packages":
            return value.strip().lower() == "true"
    return False


if __name__ == "__main__":  # also under python -c, as the roles run it
    main(sys.argv[1:], sys.stdin)
