"""The systemd_spawner role's spawner (roles/systemd_spawner/files/unopinionated_jupyterhub_systemd.py).

A user name reaches root's systemd-run as a unit name, a StateDirectory and words of
ExecStopPost's command line (``rm -rf /var/lib/private/{USERNAME}``): the name
``x /etc`` made that ``rm -rf ... /etc``. Names that are not one safe word never
start anything; the molecule default scenario (test_switching.py) shows the hub
refusing ``a b`` with no unit started.
"""

import asyncio
import subprocess
from types import SimpleNamespace

import pytest
from conftest import HOSTILE_NAMES
from tornado import web

from unopinionated_jupyterhub_systemd import SystemdSpawnerThatAsksAgain, check_user_name

SAFE = ["alice", "a", "bob.smith", "x_y-z", "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "a" * 64]
UNSAFE = HOSTILE_NAMES + ["a b", "x /etc", "%n", "%", "-rf", ".hidden", "Alice", "a" * 65, "", "tab\t", "a/b"]


@pytest.mark.parametrize("name", SAFE)
def test_names_of_one_safe_word_are_served(name):
    check_user_name(name)


@pytest.mark.parametrize("name", UNSAFE)
def test_every_other_name_is_refused_with_400_naming_it(name):
    with pytest.raises(web.HTTPError) as error:
        check_user_name(name)
    assert error.value.status_code == 400 and repr(name) in str(error.value)


def test_the_spawner_refuses_before_it_runs_anything(monkeypatch):
    ran = []

    async def no_process(*args, **kwargs):
        ran.append(args)
        raise AssertionError("a process was started for an unsafe name")

    # The hub's User as far as SystemdSpawner reads it before start (name, id, url).
    spawner = SystemdSpawnerThatAsksAgain(user=SimpleNamespace(name="x /etc", id=7, url="/user/x%20/etc/"))
    monkeypatch.setattr(asyncio, "create_subprocess_exec", no_process)
    monkeypatch.setattr(subprocess, "Popen", no_process)
    assert spawner.unit_name == "jupyter-x /etc-singleuser"  # what systemd-run would have been given
    with pytest.raises(web.HTTPError, match="cannot have a server"):
        asyncio.run(spawner.start())
    assert ran == []
