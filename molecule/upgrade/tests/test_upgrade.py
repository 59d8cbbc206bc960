"""A site's upgrade: from the previous release of the collection with JupyterHub 5.5.4 to this
checkout's playbooks/upgrade.yml and lock (JupyterHub 6.1.1) while a user works, then the roll back."""

import json
import os
import re
import threading
import time
from pathlib import Path

import pytest

from ujh_testlib import BASE, REPO, STATE, api, login, recap, run_site, start_server, use_api_token

pytestmark = pytest.mark.last  # it changes the deployment the shared tests look at

UPGRADE = REPO / "playbooks" / "upgrade.yml"
PREVIOUS = Path(__file__).resolve().parents[1] / "requirements-previous.txt"
CURRENT = REPO / "roles" / "hub" / "files" / "requirements.txt"
# This checkout as the collection (testbed/env.sh); the scenario converged with the previous
# release (molecule.yml's ANSIBLE_COLLECTIONS_PATH, made by prepare.yml).
THIS_CHECKOUT = os.environ["UJH_COLLECTIONS_PATH"]
CONVERGED_WITH = Path(os.environ["ANSIBLE_COLLECTIONS_PATH"]) / "ansible_collections" / "unopinionated" / "jupyterhub"
HEAD_AND_DB = (
    "import os, sqlite3, jupyterhub; from alembic.config import Config; from alembic.script import ScriptDirectory; "
    "c = Config(); c.set_main_option('script_location', os.path.join(os.path.dirname(jupyterhub.__file__), 'alembic')); "
    f"db = sqlite3.connect('file:{STATE}/jupyterhub.sqlite?mode=ro', uri=True); "
    "print(ScriptDirectory.from_config(c).get_current_head(), db.execute('select version_num from alembic_version').fetchone()[0])"
)


def pinned(lock, name):
    return re.search(rf"^{name}==([^\s\\]+)", lock.read_text(), re.M).group(1)


def hub_version(session, hub_url):
    return api(session, hub_url, "GET", "").json()["version"]


class Requests(threading.Thread):
    """A user's client that keeps asking its server for its status through traefik."""

    def __init__(self, session, url):
        super().__init__(daemon=True)
        self.session, self.url, self.results, self.done = session, url, [], threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                self.results.append(self.session.get(self.url, timeout=15).status_code)
            except Exception as exc:  # a refused or reset connection is a failed request
                self.results.append(repr(exc))
            time.sleep(0.2)

    def stop(self):
        self.done.set()
        self.join()
        return [r for r in self.results if r != 200], len(self.results)


def run_upgrade(client, hub_url, name, lock, *extra):
    """Run upgrade.yml with lock while client keeps requesting name's server; 0 failures allowed."""
    requests_ = Requests(client, f"{hub_url}/user/{name}/api/status")
    requests_.start()
    result = run_site("-e", f"hub_venv_requirements_file={lock}", *extra, playbook=UPGRADE,
                      collections=THIS_CHECKOUT)
    failed, total = requests_.stop()
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]
    print(f"\n[upgrade] {lock.name}: {len(failed)} failed of {total} requests to {name}'s server "
          f"during the run ({recap(result)})")
    assert total >= 20 and not failed, failed[:10]
    return result


def test_upgrade_from_the_previous_release_keeps_the_user_served_then_rolls_back(host, hub_url):
    # The host runs what the previous release's tarball deployed, not this checkout.
    assert not CONVERGED_WITH.is_symlink() and (CONVERGED_WITH / "MANIFEST.json").is_file(), CONVERGED_WITH
    previous = json.loads((CONVERGED_WITH / "MANIFEST.json").read_text())["collection_info"]["version"]
    print(f"\n[upgrade] converged with release {previous}'s tarball; upgrading with this checkout")
    name = "upgrade-alice"
    browser = login(hub_url, name)
    start_server(browser, hub_url, name)
    assert hub_version(browser, hub_url) == pinned(PREVIOUS, "jupyterhub")
    # The user's client (a token made before the backup, so the roll back keeps it).
    client = use_api_token(login(hub_url, name), hub_url, name)

    # Up: JupyterHub 6 with its schema migrations; the user keeps working throughout.
    up = run_upgrade(client, hub_url, name, CURRENT)
    assert hub_version(browser, hub_url) == pinned(CURRENT, "jupyterhub")
    me = api(browser, hub_url, "GET", "/user")
    assert me.status_code == 200 and me.json()["name"] == name, "the user is no longer logged in"
    assert me.json()["servers"][""]["ready"], me.json()
    # The first converge's secrets, byte for byte (molecule/shared/converge.yml recorded them).
    host.run_expect([0], "sha256sum --check --quiet /root/first-converge-secrets.sha256")
    head, db = host.check_output(f"{BASE}/env/bin/python -c \"{HEAD_AND_DB}\"").split()
    assert db == head, f"schema {db}, JupyterHub's head {head}"
    backup = re.search(r"backed up in (/\S+?)\. ", up.stdout).group(1)
    for part in ("jupyterhub.sqlite", "files.tar.gz", "hub-env.txt"):
        assert host.file(f"{backup}/{part}").exists, part
    assert host.file(backup).mode == 0o700 and host.file(backup).user == "root"
    assert f"jupyterhub=={pinned(PREVIOUS, 'jupyterhub')}" in host.file(f"{backup}/hub-env.txt").content_string

    # The same pins again: nothing to do, no new backup.
    again = run_site("-e", f"hub_venv_requirements_file={CURRENT}", playbook=UPGRADE, collections=THIS_CHECKOUT)
    assert again.returncode == 0 and recap(again)["changed"] == 0, again.stdout[-5000:]

    # Down: the previous pins and the backup's database; the user's server survives this too.
    run_upgrade(client, hub_url, name, PREVIOUS, "-e", f"hub_restore_from={backup}")
    assert hub_version(browser, hub_url) == pinned(PREVIOUS, "jupyterhub")
    head, db = host.check_output(f"{BASE}/env/bin/python -c \"{HEAD_AND_DB}\"").split()
    assert db == head, f"schema {db} after the roll back, JupyterHub's head {head}"
    me = api(browser, hub_url, "GET", "/user")
    assert me.status_code == 200 and me.json()["servers"][""]["ready"], me.text
