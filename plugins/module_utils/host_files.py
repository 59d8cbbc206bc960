# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Compare files and directories with what a role asks for, and make them so, never through a link.

Shared by the modules files (which writes) and hub_lifecycle (which compares before its trial).
A path is looked at with lstat and opened with O_NOFOLLOW: a link that a less privileged
account planted where a file goes is replaced by the file (a rename over it), never written
through; where a directory goes it stops the run, naming the path.

Only the standard library: the files action also runs this file on the host as a plain script
(``python3 -I -c``, the entries on stdin) to look whether its module has anything to do.
"""

from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import stat
import tempfile


class Refused(Exception):
    """What a path on the host holds that this must not touch (a link or file where a directory goes)."""


def account_id(name, database):
    """The numeric id of a user or group name (or of a number given as one); None when unknown."""
    if isinstance(name, int) or str(name).isdigit():
        return int(name)
    try:
        return database(str(name))[2]
    except KeyError:
        return None


def octal_mode(mode):
    """The mode as a number; None when none is asked for; ValueError for what is not octal (u=rw)."""
    if mode is None or mode == "":
        return None
    if isinstance(mode, int):
        return mode
    if re.fullmatch(r"0?[0-7]{3,4}", str(mode)):
        return int(str(mode), 8)
    raise ValueError("mode %s is not octal" % mode)


def read(path):
    """The bytes of the regular file at path (not through a link); None when there is none."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except (FileNotFoundError, OSError):
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            return None
        return f.read()


def attributes_differ(status, want):
    """Which of mode, owner and group of ``status`` (an os.stat_result) is not as ``want`` says; None."""
    try:
        mode = octal_mode(want.get("mode"))
    except ValueError:
        return "mode %s" % want.get("mode")
    if mode is not None and status.st_mode & 0o7777 != mode:
        return "mode"
    for key, database, current in (("owner", pwd.getpwnam, status.st_uid), ("group", grp.getgrnam, status.st_gid)):
        if want.get(key) is not None and account_id(want[key], database) != current:
            return key
    return None


def differs(path, content, want):
    """Why the file at path is not ``content`` (bytes; None: any content) with want's owner, group
    and mode; None when it is. A link or a directory at path always differs (it is replaced);
    a symbolic mode (u=rw) always differs, as it cannot be compared."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file"
    if content is not None and read(path) != content:
        return "content"
    return attributes_differ(status, want)


def directory_differs(path, want, keep_existing=False):
    """Why the directory at path is not as ``want`` says; None when it is (or exists and is kept)."""
    try:
        status = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    if not stat.S_ISDIR(status.st_mode):
        raise Refused("%s is not a directory (%s): it is left as it is" % (path, kind(status)))
    return None if keep_existing else attributes_differ(status, want)


def kind(status):
    return "a link" if stat.S_ISLNK(status.st_mode) else "a file" if stat.S_ISREG(status.st_mode) else "not a directory"


def ids(want):
    """(uid, gid) to give, -1 for what want leaves as it is; KeyError names an unknown account."""
    found = []
    for key, database in (("owner", pwd.getpwnam), ("group", grp.getgrnam)):
        if want.get(key) is None:
            found.append(-1)
            continue
        number = account_id(want[key], database)
        if number is None:
            raise KeyError("%s %s does not exist" % (key, want[key]))
        found.append(number)
    return tuple(found)


def settle(fd, want):
    """Give the open file or directory fd want's owner, group and mode."""
    uid, gid = ids(want)
    if (uid, gid) != (-1, -1):
        os.fchown(fd, uid, gid)
    mode = octal_mode(want.get("mode"))
    if mode is not None:
        os.fchmod(fd, mode)  # after chown: a chown clears setgid and setuid bits


def make_directory(path, want):
    """Create path (and missing parents, root's 0755) or set the owner, group and mode of the
    directory there, through a descriptor opened without following a link."""
    parent = os.path.dirname(path.rstrip("/")) or "/"
    if not os.path.isdir(parent):
        make_directory(parent, {"mode": "0755"})
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        raise Refused("%s is not a directory (%s): it is left as it is" % (path, kind(os.lstat(path))))
    try:
        settle(fd, want)
    finally:
        os.close(fd)


def settle_file(path, want):
    """Set the owner, group and mode of the regular file at path, not through a link."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Refused("%s is not a regular file" % path)
        settle(fd, want)
    finally:
        os.close(fd)


def write_file(path, content, want, validate=None):
    """Write content (bytes) to path with want's owner, group and mode: into a new file beside it,
    validated there when ``validate(temporary path)`` is given (it raises to refuse), then renamed
    over whatever path holds (a link is replaced, not followed)."""
    directory = os.path.dirname(path) or "."
    if octal_mode(want.get("mode")) is None:  # as it was, else what a new file of root's gets
        try:
            status = os.lstat(path)
            want = dict(want, mode=stat.S_IMODE(status.st_mode) if stat.S_ISREG(status.st_mode) else 0o644)
        except FileNotFoundError:
            want = dict(want, mode=0o644)
    fd, temporary = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
            f.flush()
            os.fsync(f.fileno())
            settle(f.fileno(), want)
        if validate:
            validate(temporary)
        os.rename(temporary, path)
    except BaseException:
        if os.path.lexists(temporary):
            os.unlink(temporary)
        raise


def remove(path):
    """Remove what is at path: a file or a link (the link, not what it points to), or a directory
    tree, whose links are removed, not followed (shutil.rmtree's descriptor-based walk)."""
    status = os.lstat(path)
    if stat.S_ISDIR(status.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def attributes(entry, defaults):
    """Owner, group and mode of a hub_lifecycle entry: its own, else its kind's default."""
    default = defaults.get(entry.get("kind"), {})
    return {key: entry[key] if entry.get(key) is not None else default.get(key) for key in ("owner", "group", "mode")}


def entry_differs(entry, check_mode=False):
    """Why the path of a files entry ({path, state, content, owner, group, mode, keep_existing}, as
    the files module takes them) is not as it asks; None when it is. Refused where it must not be touched."""
    path, state = entry["path"], entry.get("state") or "file"
    want = {key: entry.get(key) for key in ("owner", "group", "mode")}
    if state == "absent":
        return "present" if os.path.lexists(path) else None
    if state == "directory":
        return directory_differs(path, want, entry.get("keep_existing") or False)
    if state == "attributes":
        if check_mode and not os.path.lexists(path):
            return "missing"  # an earlier task makes it, but not in check mode
        if not os.path.isfile(path) or os.path.islink(path):
            raise Refused("%s is not a regular file (state=attributes sets only the owner, group and mode "
                          "of one made earlier)" % path)
        return differs(path, None, want)
    return differs(path, (entry.get("content") or "").encode(), want)


def look(entries):
    """[path, why] of the first entry that is not as it asks (or that the module would refuse: the
    module says why); None when every one is."""
    for entry in entries:
        try:
            why = entry_differs(entry)
        except (Refused, KeyError, ValueError, OSError):
            return [entry["path"], "refused"]
        if why is not None:
            return [entry["path"], why]
    return None


if __name__ == "__main__":
    import json
    import sys

    sys.stdout.write(json.dumps(look(json.load(sys.stdin))) + "\n")
