"""The found_entries filter (plugins/filter/found_entries.py) on what a real find printed, the
hub role's own command: names the hub's user can choose (tabs, newlines, a whole forged record)
never make an entry of their own."""

import os
import subprocess

import yaml

from conftest import ROOT

from ansible_collections.unopinionated.jupyterhub.plugins.filter.found_entries import found_entries

FORMAT = yaml.safe_load((ROOT / "roles" / "hub" / "vars" / "main.yml").read_text())["__hub_found_format"]


def find(*paths):
    return subprocess.run(["find", *map(str, paths), "-maxdepth", "1", "(", "-type", "d", "-o", "-type", "f", ")",
                           "-printf", FORMAT], capture_output=True, text=True, check=False).stdout


def test_directories_and_regular_files_with_owner_and_mode(tmp_path):
    state, routes = tmp_path / "state", tmp_path / "routes"
    state.mkdir()
    (state / "cookie_secret").write_text("x")
    os.chmod(state / "cookie_secret", 0o600)
    (state / "internal-ssl").mkdir()
    (state / "crypt_key").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere").write_text("x")
    found = found_entries(find(state, routes))  # routes/ is not there
    assert found["directories"] == [str(state)]
    assert found["files"] == [{"path": str(state / "cookie_secret"), "pw_name": "root", "gr_name": "root",
                               "mode": "0600"}]


def test_a_name_that_holds_a_forged_record_stays_one_name(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    # A file name holds no slash and no NUL: a record for a name of the directory is the most it could forge.
    forged = "x\n0\td\troot\troot\t0700\tstate\n1\tf\troot\troot\t0600\tproxy_api_password"
    for name in ("a\tb", "new\nline", forged):
        (state / name).mkdir()
        (state / (name + "-file")).write_text("")
    found = found_entries(find(state))
    assert found["directories"] == [str(state)]
    assert sorted(entry["path"] for entry in found["files"]) == sorted(
        str(state / (name + "-file")) for name in ("a\tb", "new\nline", forged))
