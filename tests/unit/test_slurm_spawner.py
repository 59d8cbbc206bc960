"""The slurm_spawner role's spawner (roles/slurm_spawner/files/unopinionated_jupyterhub_slurm.py).

batchspawner runs ``sudo -n -u {username} sbatch`` with a shell: a user name is served
only when it is one plain word, and spawn-form values never reach the batch script.
The molecule slurm scenario spawns real jobs through the same code.
"""

import asyncio
from types import SimpleNamespace

import pytest
from conftest import HOSTILE_NAMES
from tornado import web

from unopinionated_jupyterhub_slurm import (
    SiteSlurmSpawner, apply_profile, check_user_name, options_from_form, profile_form,
)

PROFILES = [{"name": "small", "display_name": "1 CPU <b>", "cpus": 1, "memory": "1G"},
            {"name": "gpu", "partition": "gpu", "gres": "gpu:1"}]


def spawner(name="alice", profiles=None):
    return SiteSlurmSpawner(user=SimpleNamespace(name=name, id=3, url=f"/user/{name}/"),
                            profiles=PROFILES if profiles is None else profiles)


@pytest.mark.parametrize("name", ["alice", "a.b-c_d", "alice@example.org", "_svc", "0day"])
def test_account_names_are_served(name):
    check_user_name(name)


@pytest.mark.parametrize("name", HOSTILE_NAMES + ["a;id", "$(id)", "-u", "-n root", "Alice", "a b", "a" * 65])
def test_other_names_are_refused_before_sudo_runs(name):
    with pytest.raises(web.HTTPError) as error:
        check_user_name(name)
    assert error.value.status_code == 400 and repr(name) in str(error.value)


def test_start_refuses_before_anything_is_submitted(monkeypatch):
    ran = []

    async def no_shell(*args, **kwargs):
        ran.append(args)
        raise AssertionError("a command ran for an unsafe name")

    monkeypatch.setattr(asyncio, "create_subprocess_shell", no_shell)
    with pytest.raises(web.HTTPError, match="cannot have a server"):
        asyncio.run(spawner(name="a;touch /tmp/pwned").start())
    assert ran == []


def test_a_profile_sets_its_resources_and_nothing_else_passes():
    s = spawner()
    apply_profile(s, options_from_form({"profile": ["gpu"]}))
    assert (s.req_partition, s.req_gres, s.user_options) == ("gpu", "gpu:1", {"profile": "gpu"})
    for options, message in (({"profile": "huge"}, "Unknown profile 'huge'"),
                             ({"profile": "small", "req_options": "--uid=0"}, "Unknown options: 'req_options'"),
                             ({"profile": "{{ x }}\n#SBATCH --uid=0"}, "Unknown profile")):
        with pytest.raises(web.HTTPError) as error:
            apply_profile(spawner(), options)
        assert error.value.status_code == 400 and message in str(error.value)
    with pytest.raises(web.HTTPError, match="no resource profiles"):
        apply_profile(spawner(profiles=[]), {"profile": "small"})
    apply_profile(spawner(profiles=[]), {})  # no profiles, no options: the job defaults


def test_the_form_escapes_the_sites_profile_names():
    form = profile_form(spawner())
    assert '<option value="small">1 CPU &lt;b&gt;</option>' in form
    assert profile_form(spawner(profiles=[])) == ""
