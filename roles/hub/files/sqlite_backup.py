# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Copy the hub's sqlite database while the hub runs (SQLite's online backup API).

Usage: python sqlite_backup.py SOURCE TARGET

Run by the hub role as root (tasks/backup.yml, ansible.builtin.script with the hub
environment's Python). SOURCE is in state/, which the hub's user can write: it is read
only when it is a regular file, not a link, and opened read-only. TARGET must
not exist (the backup directory is new and root's). The copy is consistent: what a
transaction wrote is in it whole or not at all.
"""

import os
import sqlite3
import stat
import sys
from urllib.parse import quote


def backup(source, target):
    status = os.lstat(source)
    if not stat.S_ISREG(status.st_mode):
        raise SystemExit("%s is not a regular file: not read" % source)
    if os.path.lexists(target):
        raise SystemExit("%s exists: not overwritten" % target)
    # A link swapped in between the check above and the open below is read (read-only),
    # into root's 0700 backup directory: the window is the hub's user's to race, and what
    # it gains is a copy only root can read.
    reader = sqlite3.connect("file:%s?mode=ro" % quote(source), uri=True)
    try:
        writer = sqlite3.connect(target)
        try:
            reader.backup(writer)
        finally:
            writer.close()
    finally:
        reader.close()
    os.chmod(target, 0o600)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    backup(sys.argv[1], sys.argv[2])
