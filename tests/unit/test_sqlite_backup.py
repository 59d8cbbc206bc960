"""The hub's online sqlite backup (roles/hub/files/sqlite_backup.py), run as the hub role runs it."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "roles" / "hub" / "files" / "sqlite_backup.py"


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=60, check=False)


def test_a_live_database_is_copied_as_committed_and_private(tmp_path):
    source, target = tmp_path / "state" / "jupyterhub.sqlite", tmp_path / "backup" / "jupyterhub.sqlite"
    source.parent.mkdir()
    target.parent.mkdir()
    hub = sqlite3.connect(source)
    hub.execute("CREATE TABLE users (name TEXT)")
    hub.execute("INSERT INTO users VALUES ('alice')")
    hub.commit()
    hub.execute("INSERT INTO users VALUES ('not-committed')")  # a transaction still open
    result = run(source, target)
    assert result.returncode == 0, result.stderr
    assert sqlite3.connect(target).execute("SELECT name FROM users").fetchall() == [("alice",)]
    assert target.stat().st_mode & 0o777 == 0o600
    hub.rollback()
    hub.close()


def test_a_link_or_an_existing_target_is_refused(tmp_path):
    secret = tmp_path / "root-only"
    secret.write_text("not a database the hub owns")
    link = tmp_path / "jupyterhub.sqlite"
    link.symlink_to(secret)
    result = run(link, tmp_path / "copy.sqlite")
    assert result.returncode != 0 and "not a regular file" in result.stderr
    assert not (tmp_path / "copy.sqlite").exists()

    database = tmp_path / "real.sqlite"
    sqlite3.connect(database).close()
    existing = tmp_path / "existing"
    existing.write_text("kept")
    result = run(database, existing)
    assert result.returncode != 0 and "not overwritten" in result.stderr and existing.read_text() == "kept"


def test_a_name_with_uri_characters_is_read_as_a_path(tmp_path):
    odd = tmp_path / "a?mode=rwc#x%20y"
    odd.mkdir()
    source = odd / "jupyterhub.sqlite"
    db = sqlite3.connect(source)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    result = run(source, tmp_path / "copy.sqlite")
    assert result.returncode == 0, result.stderr
    assert not os.path.exists(tmp_path / "a")  # no other file made from a part of the name
