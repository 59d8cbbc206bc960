"""The systemd_spawner role's spawner (roles/systemd_spawner/files/unopinionated_jupyterhub_systemd.py).

A user name reaches root's systemd-run as a unit name, a StateDirectory and words of
ExecStopPost's command line (``rm -rf /var/lib/private/{USERNAME}``): the name
``x /etc`` made that ``rm -rf ... /etc``. Names that are not one safe word never
start anything; the molecule default scenario (test_switching.py) shows the hub
refusing ``a b`` with no unit started.
"""

import asyncio
import os
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


# Persistent users (systemd_spawner_persistent_users): accounts, limits, group folders.

from unopinionated_jupyterhub_systemd import (  # noqa: E402
    AS_ROOT, MAKE_HOME, SAFE_PATH, account_name, limits_for, run_command, size_bytes)
import unopinionated_jupyterhub_systemd as module  # noqa: E402


def test_account_names_fit_useradd_and_never_collide():
    assert account_name("jupyter-", "alice") == "jupyter-alice"
    assert account_name("", "alice") == "alice"
    long_a, long_b = account_name("jupyter-", "a" * 64), account_name("jupyter-", "a" * 63 + "b")
    assert len(long_a) == len(long_b) == 32 and long_a != long_b
    assert long_a.startswith("jupyter-aaaa") and account_name("jupyter-", "a" * 64) == long_a


@pytest.mark.parametrize("value, expected", [("2G", 2 << 30), ("512M", 512 << 20), ("1024", 1024), (0, 0),
                                             ("", 0), (None, 0), (3, 3)])
def test_sizes_are_read_as_jupyterhub_reads_mem_limit(value, expected):
    assert size_bytes(value) == expected


@pytest.mark.parametrize("value", ["2 G", "-1", "1e9", "2GB", "$(id)"])
def test_other_sizes_are_refused(value):
    with pytest.raises(ValueError):
        size_bytes(value)


DEFAULTS = {"mem_limit": "1G", "cpu_limit": 1.0, "tasks_max": 512}
GROUPS = {"physics": {"mem_limit": "4G", "cpu_limit": 2}, "course": {"mem_limit": "2G", "tasks_max": 2048},
          "unlimited": {"cpu_limit": 0}}


def test_a_user_in_no_group_of_the_site_gets_the_site_limits():
    assert limits_for("dora", [], DEFAULTS, {}, GROUPS) == DEFAULTS


def test_several_groups_give_the_most_generous_of_each_limit_and_a_user_limit_wins():
    assert limits_for("ann", ["course", "physics"], DEFAULTS, {}, GROUPS) == {
        "mem_limit": "4G", "cpu_limit": 2, "tasks_max": 2048}
    assert limits_for("ann", ["physics", "unlimited"], DEFAULTS, {}, GROUPS)["cpu_limit"] == 0  # 0: none
    assert limits_for("ann", ["physics"], DEFAULTS, {"ann": {"mem_limit": "8G"}}, GROUPS) == {
        "mem_limit": "8G", "cpu_limit": 2, "tasks_max": 512}


@pytest.mark.parametrize("name", HOSTILE_NAMES + ["__class__", "physics ", "PHYSICS"])
def test_group_names_from_the_identity_provider_are_only_looked_up(name):
    assert limits_for("ann", [name], DEFAULTS, {}, GROUPS) == DEFAULTS


@pytest.mark.parametrize("path", ["/home/ann", "/srv/groups/physics", "/a.b/c_d-e"])
def test_plain_paths_go_into_unit_properties(path):
    assert SAFE_PATH.fullmatch(path)


@pytest.mark.parametrize("path", ["home/ann", "/home/a b", "/home/%n", "/home/$(id)", "/home/a;b", "/home/a\nb",
                                  "/home/'a'", "/", "//", "/home/`id`"])
def test_other_paths_do_not(path):
    assert not SAFE_PATH.fullmatch(path)


class Host:
    """Accounts and groups as pwd and grp show them; the programs the spawner runs, recorded."""

    def __init__(self, monkeypatch, tmp_path, accounts=(), groups=()):
        self.accounts = {a[0]: a for a in accounts}
        self.groups = {g[0]: g for g in groups}
        self.ran = []
        self.home = tmp_path
        monkeypatch.setattr(module.pwd, "getpwnam", self.getpwnam)
        monkeypatch.setattr(module.grp, "getgrnam", self.getgrnam)
        monkeypatch.setattr(module.os, "getgrouplist", self.getgrouplist)
        monkeypatch.setattr(module, "run_command", self.run)

    def getpwnam(self, name):
        name, uid, home = self.accounts[name]
        return SimpleNamespace(pw_name=name, pw_uid=uid, pw_gid=uid, pw_dir=home)

    def getgrnam(self, name):
        name, gid, members = self.groups[name]
        return SimpleNamespace(gr_name=name, gr_gid=gid, gr_mem=members)

    def getgrouplist(self, name, gid):
        return [gid] + [g[1] for g in self.groups.values() if name in g[2]]

    async def run(self, argv):
        self.ran.append(argv)
        if argv[0].endswith("useradd"):
            name, home = argv[-1], argv[argv.index("--home-dir") + 1]
            self.accounts[name] = (name, 1500, home)
        elif argv[0].endswith("gpasswd"):
            members = self.groups[argv[3]][2]
            (members.append if argv[1] == "--add" else members.remove)(argv[2])


def persistent_spawner(name, groups=(), **config):
    user = SimpleNamespace(name=name, id=7, url="/user/%s/" % name,
                           groups=[SimpleNamespace(name=g) for g in groups])
    spawner = SystemdSpawnerThatAsksAgain(user=user, persistent_users=True, **config)
    spawner.site_settings["properties"] = {"ProtectHome": "yes"}
    return spawner


FOLDERS = [{"group": "physics", "unix_group": "jupyter-physics", "path": "/srv/groups/physics"},
           {"group": "chemistry", "unix_group": "jupyter-chemistry", "path": "/srv/groups/chemistry"}]


def test_a_new_user_gets_an_account_a_private_home_and_their_groups_folders(monkeypatch, tmp_path):
    host = Host(monkeypatch, tmp_path, groups=[("jupyter-physics", 3001, []), ("jupyter-chemistry", 3002, ["x"])])
    spawner = persistent_spawner("ann", ["physics", "$(id)"], home_base=str(tmp_path), group_dirs=FOLDERS,
                                 home_links=["/srv/teaching"])
    spawner.apply_limits()
    asyncio.run(spawner.prepare_account())
    home = str(tmp_path / "jupyter-ann")
    assert host.ran[0] == ["/usr/sbin/useradd", "--create-home", "--home-dir", home, "--key", "HOME_MODE=0700",
                           "--shell", "/bin/bash", "--user-group", "--comment", "JupyterHub user", "--", "jupyter-ann"]
    assert host.ran[1:] == [["/usr/bin/gpasswd", "--add", "jupyter-ann", "jupyter-physics"]]
    properties = spawner.unit_extra_properties
    assert spawner.username_template == "jupyter-ann"
    assert properties["BindPaths"] == [home] and properties["ProtectHome"] == "tmpfs"
    assert properties["ReadWritePaths"] == ["/srv/groups/physics"]
    assert properties["ExecStartPre"] == ["-/bin/ln -sn /srv/teaching %s/teaching" % home,
                                          "-/bin/ln -sn /srv/groups/physics %s/physics" % home]
    # The second start: the account is there, nothing is run.
    asyncio.run(spawner.prepare_account())
    assert len(host.ran) == 2


def test_leaving_a_group_at_the_provider_takes_the_account_out_of_its_folder(monkeypatch, tmp_path):
    host = Host(monkeypatch, tmp_path, accounts=[("jupyter-ann", 1500, str(tmp_path))],
                groups=[("jupyter-physics", 3001, ["jupyter-ann"]), ("jupyter-chemistry", 3002, [])])
    spawner = persistent_spawner("ann", [], group_dirs=FOLDERS)
    spawner.apply_limits()
    asyncio.run(spawner.prepare_account())
    assert host.ran == [["/usr/bin/gpasswd", "--delete", "jupyter-ann", "jupyter-physics"]]
    assert "ReadWritePaths" not in spawner.unit_extra_properties


def test_directory_accounts_are_never_made_nor_regrouped(monkeypatch, tmp_path):
    host = Host(monkeypatch, tmp_path, accounts=[("ann", 2001, "/home/ann")],
                groups=[("jupyter-physics", 3001, ["ann"])])
    spawner = persistent_spawner("ann", [], user_prefix="", group_dirs=FOLDERS[:1])
    spawner.apply_limits()
    asyncio.run(spawner.prepare_account())
    # Only the home, if missing; the directory's membership stands (ann is in it there).
    assert host.ran == [["/bin/sh", "-c", MAKE_HOME, "sh", "/home/ann", "2001:2001"]]
    assert spawner.unit_extra_properties["ReadWritePaths"] == ["/srv/groups/physics"]
    with pytest.raises(web.HTTPError) as error:
        asyncio.run(persistent_spawner("nobody-here", user_prefix="").prepare_account())
    assert error.value.status_code == 403 and "no account 'nobody-here'" in str(error.value)


@pytest.mark.parametrize("name, uid, home", [("root", 0, "/root"), ("daemon", 1, "/usr/sbin"),
                                             ("ann", 2001, "/home/a b"), ("bob", 2002, "/home/%n")])
def test_system_accounts_and_unsafe_homes_get_no_server(monkeypatch, tmp_path, name, uid, home):
    Host(monkeypatch, tmp_path, accounts=[(name, uid, home)])
    spawner = persistent_spawner(name, [], user_prefix="")
    with pytest.raises(web.HTTPError) as error:
        asyncio.run(spawner.prepare_account())
    assert error.value.status_code == 403


def test_each_start_begins_from_the_site_limits(monkeypatch):
    spawner = persistent_spawner("ann", ["physics"], group_limits=GROUPS, mem_limit="1G", cpu_limit=1.0,
                                 tasks_max=512)
    spawner.site_settings.update({"mem_limit": 1 << 30, "cpu_limit": 1.0, "tasks_max": 512})
    spawner.apply_limits()
    assert (spawner.mem_limit, spawner.cpu_limit) == (4 << 30, 2.0)
    assert spawner.unit_extra_properties["TasksMax"] == "512"
    spawner.user.groups = []
    spawner.apply_limits()
    assert (spawner.mem_limit, spawner.cpu_limit) == (1 << 30, 1.0)
    assert spawner.unit_extra_properties == {"ProtectHome": "yes", "TasksMax": "512"}


@pytest.mark.parametrize("name", ["ann", "a b", "$(id)", "-rf", "`id`", "new\nline"])
def test_the_home_script_takes_its_words_as_data_and_leaves_what_is_there_alone(tmp_path, name):
    ids = "%d:%d" % (os.getuid(), os.getgid())
    home = tmp_path / name
    subprocess.run(["/bin/sh", "-c", MAKE_HOME, "sh", str(home), ids], check=True, cwd=tmp_path)
    assert home.is_dir() and home.stat().st_mode & 0o777 == 0o700
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # nothing else was made or run
    home.chmod(0o755)
    subprocess.run(["/bin/sh", "-c", MAKE_HOME, "sh", str(home), ids], check=True)
    assert home.stat().st_mode & 0o777 == 0o755
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere")
    subprocess.run(["/bin/sh", "-c", MAKE_HOME, "sh", str(link), ids], check=True)
    assert not (tmp_path / "elsewhere").exists()


def test_root_work_runs_as_a_unit_of_its_own_and_a_failure_names_the_program(monkeypatch):
    calls = []

    async def answer():
        return b"", b"useradd: group 'x' exists\n"

    async def fake_exec(*argv, **kwargs):
        calls.append(argv)
        return SimpleNamespace(returncode=9, communicate=answer)

    monkeypatch.setattr(asyncio, "create_subprocess_exec", fake_exec)
    with pytest.raises(web.HTTPError) as error:
        asyncio.run(run_command(["/usr/sbin/useradd", "--", "x"]))
    assert calls == [(*AS_ROOT, "/usr/sbin/useradd", "--", "x")]
    assert error.value.status_code == 500 and "useradd failed (exit status 9): useradd: group 'x' exists" in str(error.value)


def test_a_home_execstoppost_left_is_removed_after_the_stop_and_a_link_is_not_followed(monkeypatch, tmp_path):
    # systemd 252 forgets a transient unit's ExecStopPost at a daemon-reload: the hub removes
    # the home after the stop, with the same rm, here run without systemd-run.
    ran = []

    async def run_here(argv):
        ran.append(argv)
        subprocess.run(argv, check=True)

    monkeypatch.setattr(module, "run_command", run_here)
    name = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    homes = (str(tmp_path / "private" / "{USERNAME}"), str(tmp_path / "{USERNAME}"))
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "file").write_text("not the user's")
    home = tmp_path / "private" / name
    home.mkdir(parents=True)
    (home / "notebook.ipynb").write_text("{}")
    (home / "outside").symlink_to(kept)  # a link the user planted
    (tmp_path / name).symlink_to(home)
    spawner = SystemdSpawnerThatAsksAgain(user=SimpleNamespace(name=name, id=7, url=f"/user/{name}/"))
    asyncio.run(spawner.remove_home(homes))
    assert ran == [["/bin/rm", "-rf", "--one-file-system", "--", str(home), str(tmp_path / name)]]
    assert not home.exists() and not (tmp_path / name).is_symlink()
    assert (kept / "file").read_text() == "not the user's"
    asyncio.run(spawner.remove_home(homes))  # nothing left: nothing runs
    assert len(ran) == 1
    hostile = SystemdSpawnerThatAsksAgain(user=SimpleNamespace(name="x /etc", id=8, url="/user/x/"))
    with pytest.raises(web.HTTPError, match="cannot have a server"):
        asyncio.run(hostile.remove_home(homes))
    assert len(ran) == 1


def test_after_a_stop_only_a_dynamic_users_home_is_looked_at(monkeypatch):
    looked = []

    async def remove_home(self):
        looked.append(self.user.name)

    monkeypatch.setattr(SystemdSpawnerThatAsksAgain, "remove_home", remove_home)
    for persistent in (False, True):
        spawner = SystemdSpawnerThatAsksAgain(user=SimpleNamespace(name=f"u{persistent:d}", id=7, url="/user/u/"),
                                              persistent_users=persistent)
        asyncio.run(spawner.run_post_stop_hook())
    assert looked == ["u0"]
