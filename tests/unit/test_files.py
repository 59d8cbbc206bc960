"""The files module (plugins/modules/files.py) and what it shares with hub_lifecycle
(plugins/module_utils/host_files.py): made as asked, unchanged when already so, and never
through a link that a less privileged account planted."""

import json
import os
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest
from conftest import run_playbook

from ansible_collections.unopinionated.jupyterhub.plugins.module_utils import host_files

# Unit tests run as root here (CI and the test bed); an owner nobody has is made up of numbers.
OTHER = {"owner": "65534", "group": "65534"}


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_directory_is_made_with_its_parents_then_left_alone(tmp_path):
    path = str(tmp_path / "a" / "b")
    want = dict(OTHER, mode="2770")
    assert host_files.directory_differs(path, want) == "missing"
    host_files.make_directory(path, want)
    status = os.lstat(path)
    assert (status.st_uid, status.st_gid, mode_of(path)) == (65534, 65534, 0o2770)
    assert mode_of(tmp_path / "a") == 0o755
    assert host_files.directory_differs(path, want) is None
    assert host_files.directory_differs(path, dict(want, mode="0750")) == "mode"


def test_an_existing_directory_kept_as_the_site_made_it(tmp_path):
    path = tmp_path / "shared"
    path.mkdir(mode=0o775)
    os.chmod(path, 0o775)
    assert host_files.directory_differs(str(path), {"mode": "0755"}, keep_existing=True) is None
    assert host_files.directory_differs(str(path), {"mode": "0755"}) == "mode"


@pytest.mark.parametrize("planted", ["link to a directory", "dangling link", "file"])
def test_what_is_not_a_directory_where_one_goes_stops_the_run_and_is_left_as_it_is(tmp_path, planted):
    victim = tmp_path / "victim"
    victim.mkdir(mode=0o700)
    os.chmod(victim, 0o700)
    path = tmp_path / "routes"
    if planted == "file":
        path.write_text("x")
    else:
        path.symlink_to(victim if planted == "link to a directory" else tmp_path / "nowhere")
    with pytest.raises(host_files.Refused, match="is not a directory"):
        host_files.directory_differs(str(path), OTHER)
    with pytest.raises(host_files.Refused, match="is not a directory"):
        host_files.make_directory(str(path), dict(OTHER, mode="0777"))
    assert mode_of(victim) == 0o700 and os.lstat(victim).st_uid == os.getuid()


def test_a_file_is_written_then_left_alone_and_its_attributes_set_without_a_write(tmp_path):
    path = str(tmp_path / "traefik.toml")
    want = dict(OTHER, mode="0640")
    assert host_files.differs(path, b"a = 1\n", want) == "missing"
    host_files.write_file(path, b"a = 1\n", want)
    assert host_files.read(path) == b"a = 1\n" and mode_of(path) == 0o640
    assert host_files.differs(path, b"a = 1\n", want) is None
    assert host_files.differs(path, b"a = 2\n", want) == "content"
    inode = os.lstat(path).st_ino
    host_files.settle_file(path, dict(want, mode="0644"))
    assert mode_of(path) == 0o644 and os.lstat(path).st_ino == inode
    assert host_files.differs(path, None, dict(want, mode="0644", owner="0")) == "owner"


def test_a_link_where_a_file_goes_is_replaced_never_written_through(tmp_path):
    target = tmp_path / "shadow"
    target.write_text("root's secret\n")
    os.chmod(target, 0o600)
    path = tmp_path / "00-proxy.toml"
    path.symlink_to(target)
    want = dict(OTHER, mode="0644")
    assert host_files.differs(str(path), b"x\n", want) == "not a regular file"
    assert host_files.read(str(path)) is None  # not read through the link either
    host_files.write_file(str(path), b"x\n", want)
    assert not path.is_symlink() and path.read_text() == "x\n"
    assert target.read_text() == "root's secret\n" and mode_of(target) == 0o600
    assert os.lstat(target).st_uid == os.getuid()


def test_attributes_are_never_set_through_a_link(tmp_path):
    target = tmp_path / "shadow"
    target.write_text("s\n")
    os.chmod(target, 0o600)
    (tmp_path / "key").symlink_to(target)
    with pytest.raises(OSError):
        host_files.settle_file(str(tmp_path / "key"), dict(OTHER, mode="0644"))
    assert mode_of(target) == 0o600 and os.lstat(target).st_uid == os.getuid()


def test_a_file_that_fails_validation_changes_nothing(tmp_path):
    path = tmp_path / "traefik.toml"
    path.write_text("old\n")

    def refuse(temporary):
        assert open(temporary, "rb").read() == b"new\n" and mode_of(temporary) == 0o640
        raise host_files.Refused("no")

    with pytest.raises(host_files.Refused):
        host_files.write_file(str(path), b"new\n", {"mode": "0640"}, validate=refuse)
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["traefik.toml"]


def test_a_file_without_a_mode_keeps_its_own(tmp_path):
    path = tmp_path / "f"
    path.write_text("a")
    os.chmod(path, 0o604)
    host_files.write_file(str(path), b"b", {})
    assert mode_of(path) == 0o604
    host_files.write_file(str(tmp_path / "new"), b"b", {})
    assert mode_of(tmp_path / "new") == 0o644


def test_removal_takes_a_link_itself_and_never_what_a_tree_links_to(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("k")
    tree = tmp_path / "wheelhouse"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "to-outside").symlink_to(outside)
    (tree / "f").write_text("f")
    link = tmp_path / "db_url"
    link.symlink_to(outside / "keep")
    host_files.remove(str(tree))
    host_files.remove(str(link))
    assert not tree.exists() and not link.is_symlink() and (outside / "keep").read_text() == "k"


def test_an_unknown_owner_or_a_symbolic_mode_is_named(tmp_path):
    with pytest.raises(KeyError, match="owner no-such-user-ujh does not exist"):
        host_files.write_file(str(tmp_path / "f"), b"", {"owner": "no-such-user-ujh"})
    assert not (tmp_path / "f").exists() and os.listdir(tmp_path) == []
    (tmp_path / "g").write_text("")
    assert host_files.differs(str(tmp_path / "g"), b"", {"mode": "u=rw"}) == "mode u=rw"


def play(tmp_path, entries, *args, no_log=False):
    """The module run by Ansible, as the roles run it: (return code, the task's result, output)."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - unopinionated.jupyterhub.files:
                entries: {entries}
              register: result
              no_log: {no_log}
            - ansible.builtin.copy: {{content: "{{{{ result | to_json }}}}", dest: {out}}}
              check_mode: false
              diff: false
        """).format(entries=json.dumps(entries), no_log=no_log, out=tmp_path / "result.json"))
    done = run_playbook(playbook, "-v", *args)
    result = json.loads((tmp_path / "result.json").read_text()) if (tmp_path / "result.json").exists() else None
    (tmp_path / "result.json").unlink(missing_ok=True)
    return done.returncode, result, done.stdout + done.stderr


def test_the_module_in_order_in_check_mode_then_for_real_then_unchanged(tmp_path):
    base = tmp_path / "base"
    (tmp_path / "stale").write_text("s")
    entries = [
        {"path": str(base), "state": "directory", "owner": "root", "group": "root", "mode": "0755"},
        {"path": str(tmp_path / "stale"), "state": "absent"},
        {"path": str(base / "plain.toml"), "content": "plain = 'shown'\n", "mode": "0640",
         "validate": "python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], \"rb\"))' %s"},
    ]
    rc, result, output = play(tmp_path, entries, "--check", "--diff")
    assert rc == 0, output[-3000:]
    assert result["changed"] and list(result["changed_paths"]) == [e["path"] for e in entries]
    assert not base.exists() and (tmp_path / "stale").exists()
    assert "+plain = 'shown'" in output

    rc, result, output = play(tmp_path, entries, "--diff")
    assert rc == 0 and result["changed"], output[-3000:]
    assert (base / "plain.toml").read_text() == "plain = 'shown'\n" and mode_of(base / "plain.toml") == 0o640
    assert not (tmp_path / "stale").exists()

    rc, result, output = play(tmp_path, entries)
    assert rc == 0 and not result["changed"] and result["changed_paths"] == {}, output[-3000:]


def test_a_secret_written_with_no_log_shows_neither_in_diff_nor_in_arguments(tmp_path):
    entries = [{"path": str(tmp_path / "secret.env"), "content": "TOKEN=tok-hunter2\n", "mode": "0600"}]
    rc, result, output = play(tmp_path, entries, "--diff", "-vvv", no_log=True)
    assert rc == 0 and result["changed"], output[-3000:]
    assert (tmp_path / "secret.env").read_text() == "TOKEN=tok-hunter2\n" and mode_of(tmp_path / "secret.env") == 0o600
    assert "tok-hunter2" not in output


def test_the_module_stops_at_a_file_that_fails_validation_naming_it(tmp_path):
    entries = [
        {"path": str(tmp_path / "first"), "content": "1\n", "mode": "0644"},
        {"path": str(tmp_path / "bad.toml"), "content": "a = [\n", "mode": "0644",
         "validate": "python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], \"rb\"))' %s"},
        {"path": str(tmp_path / "never"), "content": "3\n", "mode": "0644"},
    ]
    rc, result, output = play(tmp_path, entries)
    assert rc == 2 and result is None, output[-3000:]
    assert f"{tmp_path / 'bad.toml'}: validation failed" in output
    assert (tmp_path / "first").exists() and not (tmp_path / "bad.toml").exists() and not (tmp_path / "never").exists()


# What the files action's look (host_files.py run on the host as a script) must never miss: each
# case is the entry and how its path is found; the action (pipelining: the look, then the module
# only where the look finds something to do) and the module alone must end the same way.
LOOK_CASES = {
    "settled file": ({"content": "same\n", "mode": "0644"}, "same"),
    "missing file": ({"content": "new\n", "mode": "0644"}, None),
    "other content": ({"content": "new\n", "mode": "0644"}, "old"),
    "other mode": ({"content": "same\n", "mode": "0600"}, "same"),
    "other owner": ({"content": "same\n", "mode": "0644", **OTHER}, "same"),
    "unknown owner": ({"content": "same\n", "mode": "0644", "owner": "no-such-user-ujh"}, "same"),
    "link where a file goes": ({"content": "same\n", "mode": "0644"}, "link"),
    "settled directory": ({"state": "directory", "mode": "0755"}, "directory"),
    "missing directory": ({"state": "directory", "mode": "0755"}, None),
    "other directory mode": ({"state": "directory", "mode": "0700"}, "directory"),
    "link where a directory goes": ({"state": "directory", "mode": "0755"}, "link"),
    "absent and present": ({"state": "absent"}, "same"),
    "absent and gone": ({"state": "absent"}, None),
    "attributes settled": ({"state": "attributes", "mode": "0644"}, "same"),
    "attributes differ": ({"state": "attributes", "mode": "0640"}, "same"),
    "attributes of a link": ({"state": "attributes", "mode": "0644"}, "link"),
}


def look_cases(root):
    """Every case's path made as the case says, under root; the entries, by case."""
    root.mkdir()
    (root / "target").write_text("same\n")
    os.chmod(root / "target", 0o644)
    entries = {}
    for number, (case, (entry, found)) in enumerate(LOOK_CASES.items()):
        path = root / str(number)
        if found in ("same", "old"):
            path.write_text("same\n" if found == "same" else "old\n")
            os.chmod(path, 0o644)
        elif found == "directory":
            path.mkdir()
            os.chmod(path, 0o755)
        elif found == "link":
            path.symlink_to(root / "target")
        entries[case] = dict(entry, path=str(path))
    return entries


def test_the_action_looks_first_and_ends_as_the_module_alone_would(tmp_path):
    ends = {}
    for pipelining in (True, False):
        root = tmp_path / ("action" if pipelining else "module")
        entries = look_cases(root)
        playbook = tmp_path / "look.yml"
        playbook.write_text(textwrap.dedent("""\
            - hosts: localhost
              gather_facts: false
              tasks:
                - unopinionated.jupyterhub.files:
                    entries: ["{{{{ item.value }}}}"]
                  loop: "{{{{ cases | dict2items }}}}"
                  register: results
                  ignore_errors: true
                - ansible.builtin.copy:
                    content: "{{{{ results.results | map(attribute='item.key')
                                   | zip(results.results | map(attribute='changed'),
                                         results.results | map(attribute='failed', default=false)) | to_json }}}}"
                    dest: {out}
                    mode: "0600"
            """).format(out=root / "ends.json"))
        done = run_playbook(playbook, "-vvv", "-e", json.dumps({"cases": entries, "ansible_pipelining": pipelining}))
        assert done.returncode == 0, done.stdout[-3000:]
        # The look ran (the host's Python with -I -c) only where the connection pipelines.
        assert ("-I -c" in done.stdout) == pipelining
        ends[pipelining] = ({case: (changed, failed) for case, changed, failed in json.loads((root / "ends.json").read_text())},
                            {name: (os.path.lexists(root / name), os.path.islink(root / name),
                                    mode_of(root / name) if os.path.lexists(root / name) else None)
                             for name in sorted(os.listdir(root)) if name != "ends.json"})
    assert ends[True] == ends[False]
    changed_or_failed = {case for case, (changed, failed) in ends[True][0].items() if changed or failed}
    assert changed_or_failed == set(LOOK_CASES) - {"settled file", "settled directory", "absent and gone",
                                                   "attributes settled"}


def test_the_look_runs_as_a_plain_script_with_the_standard_library_only(tmp_path):
    entries = look_cases(tmp_path / "cases")
    script = (Path(host_files.__file__)).read_text()
    settled = [entries["settled file"], entries["settled directory"], entries["absent and gone"]]
    for given, answer in ((settled, None), (settled + [entries["other mode"]], [entries["other mode"]["path"], "mode"]),
                          ([entries["link where a directory goes"]], [entries["link where a directory goes"]["path"], "refused"])):
        done = subprocess.run(["/usr/bin/python3", "-I", "-S", "-c", script], input=json.dumps(given), capture_output=True,
                              text=True, check=True)
        assert json.loads(done.stdout) == answer
