"""The slurm_spawner role's spawner (roles/slurm_spawner/files/unopinionated_jupyterhub_slurm.py).

batchspawner runs ``sudo -n -u {username} sbatch`` with a shell: a user name is served
only when it is one plain word, and spawn-form values never reach the batch script.
The molecule slurm scenario spawns real jobs through the same code.
"""

import asyncio
import os
import pwd
import subprocess
from types import SimpleNamespace

import pytest
from conftest import HOSTILE_NAMES
from jupyterhub.objects import Hub
from tornado import web

from unopinionated_jupyterhub_slurm import (
    SiteSlurmSpawner, apply_profile, check_user_name, job_secrets_setup, module_setup, options_from_form, profile_form,
    seal,
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
    asyncio.run(apply_profile(s, options_from_form({"profile": ["gpu"]})))
    assert (s.req_partition, s.req_gres, s.user_options) == ("gpu", "gpu:1", {"profile": "gpu"})
    for options, message in (({"profile": "huge"}, "Profile 'huge' is not one you may choose"),
                             ({"profile": "small", "req_options": "--uid=0"}, "Unknown options: 'req_options'"),
                             ({"profile": "{{ x }}\n#SBATCH --uid=0"}, "is not one you may choose")):
        with pytest.raises(web.HTTPError) as error:
            asyncio.run(apply_profile(spawner(), options))
        assert error.value.status_code == 400 and message in str(error.value)
    with pytest.raises(web.HTTPError, match="no resource profiles"):
        asyncio.run(apply_profile(spawner(profiles=[]), {"profile": "small"}))
    asyncio.run(apply_profile(spawner(profiles=[]), {}))  # no profiles, no options: the job defaults


def test_the_form_escapes_the_sites_profile_names():
    form = asyncio.run(profile_form(spawner()))
    assert '<option value="small">1 CPU &lt;b&gt;</option>' in form
    assert asyncio.run(profile_form(spawner(profiles=[]))) == ""


# internal_ssl: the job's certificates travel in its batch script, its key and API token
# sealed with MUNGE (job_secrets_setup). The controller has no munged: these tests seal
# and unseal with stand-ins (base64 between "MUNGE:" and ":", arguments recorded); the
# slurm scenario runs the real munge and unmunge, and captures the wire.
STAND_IN_MUNGE = """#!/bin/sh
printf '%s\\n' "$@" > "$(dirname "$0")/munge-args"
printf 'MUNGE:%s:' "$(base64 -w0)"
"""
STAND_IN_UNMUNGE = """#!/bin/sh
for arg; do case "$arg" in --output=*) out="${arg#--output=}";; esac; done
sed 's/^MUNGE://; s/:$//' | base64 -d > "$out"
"""


def certificate_store(tmp_path):
    """A real certipy store as JupyterHub's init_internal_ssl lays it out (the CAs a spawn needs)."""
    from certipy import Certipy

    store = tmp_path / "internal-ssl"
    certipy = Certipy(store_dir=str(store))
    for ca in ("hub-ca", "notebooks-ca", "proxy-client-ca"):
        certipy.create_ca(ca)
    return store, certipy.trust_from_graph({"notebooks-ca": ["hub-ca", "proxy-client-ca"]})


def tls_spawner(tmp_path, name=None):
    name = name or pwd.getpwuid(os.getuid()).pw_name  # an account this machine knows (its uid is sealed for)
    store, bundles = certificate_store(tmp_path)
    s = spawner(name=name, profiles=[])
    s.internal_ssl, s.internal_certs_location, s.internal_trust_bundles = True, str(store), bundles
    s.ssl_alt_names = ["DNS:node01"]
    s.req_homedir, s.req_username, s.req_keepvars = "/home/" + name, name, "PATH"
    s.hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
    s.api_token = "the-jobs-api-token-0123456789"
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool, text in (("munge", STAND_IN_MUNGE), ("unmunge", STAND_IN_UNMUNGE)):
        (tools / tool).write_text(text)
        (tools / tool).chmod(0o755)
    s.munge_command = [str(tools / "munge")]
    return s, tools


def test_a_jobs_secrets_are_sealed_in_its_script_and_written_into_a_private_directory(tmp_path):
    s, tools = tls_spawner(tmp_path)
    hub_paths = asyncio.run(s.create_certs())
    node_paths = asyncio.run(s.move_certs(hub_paths))
    assert node_paths == {"keyfile": "$ujh_tls_dir/server.key", "certfile": "$ujh_tls_dir/server.crt",
                          "cafile": "$ujh_tls_dir/ca.crt"}
    env = s.get_env()
    # No value in the job's environment; the names stay (batchspawner's keepvars: srun passes them on).
    assert env["JUPYTERHUB_API_TOKEN"] == env["JPY_API_TOKEN"] == ""
    script = asyncio.run(s._get_batch_script(**dict(s.get_req_subvars(), cmd="env", prologue="echo site")))
    # Neither the key nor the token is in the script (nor, so, in the debug log that prints it).
    assert "PRIVATE KEY" not in script and s.api_token not in script
    assert "BEGIN CERTIFICATE" in script and script.index("mktemp") < script.index("echo site")
    assert (tools / "munge-args").read_text().split() == ["--restrict-uid=%d" % os.getuid(), "--ttl=300"]  # batchspawner: 300 s
    # The script's own lines, run by a real bash as the job would: the files appear in
    # a new 0700 directory, 0600, byte for byte the hub's; the token is exported, not left
    # in a file; all is gone when the script ends.
    tmpdir = tmp_path / "node-tmp"
    tmpdir.mkdir()
    report = tmp_path / "report"
    setup = script[script.index('ujh_tls_dir="$('):script.index("echo site")]
    probe = ('stat -c "%%a %%n" "$ujh_tls_dir" "$JUPYTERHUB_SSL_KEYFILE" "$JUPYTERHUB_SSL_CERTFILE" '
             '"$JUPYTERHUB_SSL_CLIENT_CA" > %s; umask >> %s; ls "$ujh_tls_dir" >> %s; '
             'echo "$JUPYTERHUB_API_TOKEN $JPY_API_TOKEN" >> %s; cat "$JUPYTERHUB_SSL_KEYFILE" >> %s'
             % ((report,) * 5))
    subprocess.run(["bash", "-euc", "umask 0027\n" + setup + probe],
                   env={"TMPDIR": str(tmpdir), "PATH": f"{tools}:/usr/bin:/bin"}, check=True)
    lines = report.read_text().splitlines()
    directory = lines[0].split()[1]
    assert [line.split()[0] for line in lines[:4]] == ["700", "600", "600", "600"]
    assert directory.startswith(str(tmpdir) + "/jupyterhub-tls.") and lines[4] == "0027"
    assert lines[5:8] == ["ca.crt", "server.crt", "server.key"]
    assert lines[8] == f"{s.api_token} {s.api_token}"
    assert "\n".join(lines[9:]) + "\n" == open(hub_paths["keyfile"]).read()
    assert list(tmpdir.iterdir()) == []  # removed at the script's exit


PEM = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
SEALED = {"keyfile": "MUNGE:QUJD:", "token": "MUNGE:REVG:"}


@pytest.mark.parametrize("text", [
    "-----BEGIN PRIVATE KEY-----\nAAAA\nUJH_EOF\ntouch /tmp/pwned\n-----END PRIVATE KEY-----\n",
    "-----BEGIN CERTIFICATE-----\n`id`\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\n$(id)\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nAA'\"AA\n-----END CERTIFICATE-----\n",
    PEM + "%s{{x}}\n",
    PEM + "UJH_EOF\n",
    "", None, PEM.encode(),
])
def test_anything_but_pem_never_reaches_a_batch_script(text):
    with pytest.raises(ValueError, match="is not a PEM file"):
        job_secrets_setup({"certfile": text, "cafile": PEM}, SEALED)


@pytest.mark.parametrize("credential", [
    "MUNGE:QUJD:\nUJH_EOF\ntouch /tmp/pwned", "MUNGE:`id`:", "MUNGE:$(id):", "MUNGE:'x':", "MUNGE::", "QUJD",
    "MUNGE:QUJD: ", "", None, b"MUNGE:QUJD:",
])
def test_anything_but_a_munge_credential_never_reaches_a_batch_script(credential):
    with pytest.raises(ValueError, match="is not a MUNGE credential"):
        job_secrets_setup({"certfile": PEM, "cafile": PEM}, dict(SEALED, token=credential))


def test_seal_runs_munge_without_a_shell_and_refuses_what_is_not_a_credential(tmp_path):
    assert asyncio.run(seal(b"x", 2001, 300, ["sh", "-c", "cat >/dev/null; printf 'MUNGE:QUJD:\\n'", "munge"])) \
        == "MUNGE:QUJD:"
    with pytest.raises(ValueError, match="not a MUNGE credential"):
        asyncio.run(seal(b"x", 2001, 300, ["sh", "-c", "cat >/dev/null; printf 'MUNGE:`id`:'", "munge"]))
    with pytest.raises(RuntimeError, match="munge could not seal the job's secrets .exit 1.: no munged"):
        asyncio.run(seal(b"x", 2001, 300, ["sh", "-c", "cat >/dev/null; echo no munged >&2; exit 1", "munge"]))


def test_a_name_that_is_not_one_word_gets_no_certificate_files(tmp_path):
    s, _tools = tls_spawner(tmp_path, name="../../hub-internal/x")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(web.HTTPError, match="cannot have a server"):
        asyncio.run(s.create_certs())
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_the_jobs_module_system_starts_with_the_sites_paths_and_reaches_the_server(tmp_path):
    # A stand-in for Lmod's init script that, as real ones do, reads a variable that may be unset.
    init = tmp_path / "lmod.sh"
    init.write_text('[ -n "$UJH_SURELY_UNSET" ] || true\nmodule() { echo "module $*" >> "%s/calls"; }\n' % tmp_path)
    script = "set -euo pipefail\n" + module_setup(str(init), ["/opt/mods", "/x/y+z_1.0"]) + 'echo "$SLURM_EXPORT_ENV"\n'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "ALL"  # srun passes the job's environment (LMOD_CMD, MODULEPATH) to the server
    assert (tmp_path / "calls").read_text() == "module use /opt/mods /x/y+z_1.0\n"
    assert module_setup("", []) == ""


@pytest.mark.parametrize("path", ["relative/lmod.sh", "/a b", "/a;id", "/a/$(id)", "/a/`id`", "/a/../etc", "/a/..",
                                  "/a\n/b", "/%2e%2e/x", "/a'b", '/a"b', "/a{b}", "", None])
def test_anything_but_a_plain_absolute_path_never_reaches_a_batch_script(path):
    with pytest.raises(ValueError):
        module_setup("/etc/profile.d/lmod.sh", [path])
    if path:
        with pytest.raises(ValueError):
            module_setup(path)
