# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""What the hub's base configuration (jupyterhub_config.py, written by the hub role) reads
from the host: the secrets in state/, the database settings beside it, the announcement.

Beside the base configuration, root-owned like it, and tried and put back with it.
"""

import json
import os


def read_secret(state_dir, name):
    """A secret the hub role wrote into state/ (one line, surrounding whitespace dropped)."""
    with open(os.path.join(state_dir, name)) as f:
        return f.read().strip()


def database_url(settings_file):
    """hub_db_url with hub_db_password set into it, escaped by SQLAlchemy.

    settings_file is database.json ({"url": ..., "password": ...}), root-owned and readable by
    the hub's group only. A postgresql:// URL gets the driver the role installs (psycopg2),
    whatever SQLAlchemy's default is.
    """
    from sqlalchemy.engine import make_url

    with open(settings_file) as f:
        settings = json.load(f)
    url = make_url(settings["url"])
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg2")
    if settings.get("password"):
        url = url.set(password=settings["password"])
    return url.render_as_string(hide_password=False)


class TextFile:
    """A page's template variable read from a file (hub_announcement): a new text shows at the next page.

    JupyterHub calls a callable of template_vars with the user at every page it renders. The file
    is read again only when it changed (size, time, inode); a missing or unreadable one is "".
    """

    def __init__(self, path):
        self.path = path
        self.seen = (None, "")

    def __call__(self, user=None):
        try:
            status = os.stat(self.path)
        except OSError:
            return ""
        key = (status.st_ino, status.st_size, status.st_mtime_ns)
        if self.seen[0] != key:
            try:
                with open(self.path, encoding="utf-8") as f:
                    self.seen = (key, f.read().strip())
            except (OSError, UnicodeDecodeError):
                return ""
        return self.seen[1]
