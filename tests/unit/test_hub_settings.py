"""What the hub's base configuration reads from the host (roles/hub/files/unopinionated_jupyterhub_hub.py)."""

import json

import pytest
from sqlalchemy.engine import make_url

from unopinionated_jupyterhub_hub import database_url, read_secret

RESERVED = "pg@ss/w:rd%#?&+ x'\"`$(id)\n"


def settings(tmp_path, url, password):
    path = tmp_path / "database.json"
    path.write_text(json.dumps({"url": url, "password": password}))
    return str(path)


@pytest.mark.parametrize("url, driver", [
    ("postgresql://jupyterhub@db.example.org/jupyterhub", "postgresql+psycopg2"),
    ("postgresql+psycopg2://jupyterhub@db.example.org:5433/jupyterhub", "postgresql+psycopg2"),
    ("mysql+pymysql://jupyterhub@db.example.org/jupyterhub?charset=utf8mb4", "mysql+pymysql"),
])
def test_the_password_is_set_into_the_url_escaped_and_reads_back_the_same(tmp_path, url, driver):
    rendered = database_url(settings(tmp_path, url, RESERVED))
    parsed = make_url(rendered)
    assert parsed.password == RESERVED and parsed.drivername == driver
    assert parsed.host == "db.example.org" and parsed.database == "jupyterhub"
    assert "\n" not in rendered and "`" not in rendered


def test_a_url_without_a_password_keeps_its_own(tmp_path):
    rendered = database_url(settings(tmp_path, "postgresql://hub:own%40pw@db/hub", ""))
    assert make_url(rendered).password == "own@pw"


def test_a_secret_is_read_as_its_one_line(tmp_path):
    (tmp_path / "proxy_api_password").write_text("  s3cret-value\n")
    assert read_secret(str(tmp_path), "proxy_api_password") == "s3cret-value"


def test_the_announcement_is_read_again_only_when_its_file_changes(tmp_path):
    from types import SimpleNamespace

    from unopinionated_jupyterhub_hub import TextFile

    path = tmp_path / "announcement.html"
    announcement = TextFile(str(path))
    assert announcement(None) == ""  # no file yet: no announcement
    path.write_text("<b>Maintenance</b> on Friday\n")
    assert announcement(None) == "<b>Maintenance</b> on Friday"
    path.write_text("Exam week: the hub is read-only!\n")
    assert announcement(SimpleNamespace(name="ann")) == "Exam week: the hub is read-only!"
    path.write_bytes(b"\xff\xfe not text")
    assert announcement(None) == ""
