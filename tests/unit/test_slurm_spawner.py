"""The slurm_spawner role's spawner (roles/slurm_spawner/files/unopinionated_jupyterhub_slurm.py).

batchspawner runs ``sudo -n -u {username} sbatch`` with a shell: a user name is served
only when it is one plain word, and spawn-form values never reach the batch script.
The molecule slurm scenario spawns real jobs through the same code.
"""

import asyncio
import logging
import subprocess
from types import SimpleNamespace

import pytest
from conftest import HOSTILE_NAMES
from jupyterhub.objects import Hub
from tornado import web

from unopinionated_jupyterhub_slurm import (
    SiteSlurmSpawner, apply_profile, check_user_name, options_from_form, profile_form, tls_setup,
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


# internal_ssl: the job's key and certificate travel in its batch script (tls_setup).

def certificate_store(tmp_path):
    """A real certipy store as JupyterHub's init_internal_ssl lays it out (the CAs a spawn needs)."""
    from certipy import Certipy

    store = tmp_path / "internal-ssl"
    certipy = Certipy(store_dir=str(store))
    for ca in ("hub-ca", "notebooks-ca", "proxy-client-ca"):
        certipy.create_ca(ca)
    return store, certipy.trust_from_graph({"notebooks-ca": ["hub-ca", "proxy-client-ca"]})


def tls_spawner(tmp_path, name="alice"):
    store, bundles = certificate_store(tmp_path)
    s = spawner(name=name, profiles=[])
    s.internal_ssl, s.internal_certs_location, s.internal_trust_bundles = True, str(store), bundles
    s.ssl_alt_names = ["DNS:node01"]
    s.req_homedir, s.req_username, s.req_keepvars = "/home/" + name, name, "PATH"
    s.hub = Hub(ip="127.0.0.1", port=8081, base_url="/hub/")
    return s


def test_a_jobs_server_files_are_written_by_its_script_into_a_private_directory(tmp_path):
    s = tls_spawner(tmp_path)
    hub_paths = asyncio.run(s.create_certs())
    node_paths = asyncio.run(s.move_certs(hub_paths))
    assert node_paths == {"keyfile": "$ujh_tls_dir/server.key", "certfile": "$ujh_tls_dir/server.crt",
                          "cafile": "$ujh_tls_dir/ca.crt"}
    script = asyncio.run(s._get_batch_script(**dict(s.get_req_subvars(), cmd="env", prologue="echo site")))
    assert "PRIVATE KEY-----" in script and script.index("mktemp") < script.index("echo site")
    # The script's own lines, run by a real bash as the job would: the files appear in
    # a new 0700 directory, 0600, byte for byte the hub's, and are gone when it ends.
    tmpdir = tmp_path / "node-tmp"
    tmpdir.mkdir()
    report = tmp_path / "report"
    setup = script[script.index('ujh_tls_dir="$('):script.index("echo site")]
    probe = ('stat -c "%%a %%n" "$ujh_tls_dir" "$JUPYTERHUB_SSL_KEYFILE" "$JUPYTERHUB_SSL_CERTFILE" '
             '"$JUPYTERHUB_SSL_CLIENT_CA" > %s; umask >> %s; cat "$JUPYTERHUB_SSL_KEYFILE" >> %s' % ((report,) * 3))
    subprocess.run(["bash", "-euc", "umask 0027\n" + setup + probe], env={"TMPDIR": str(tmpdir), "PATH": "/usr/bin:/bin"},
                   check=True)
    lines = report.read_text().splitlines()
    directory = lines[0].split()[1]
    assert [line.split()[0] for line in lines[:4]] == ["700", "600", "600", "600"]
    assert directory.startswith(str(tmpdir) + "/jupyterhub-tls.") and lines[4] == "0027"
    assert "\n".join(lines[5:]) + "\n" == open(hub_paths["keyfile"]).read()
    assert list(tmpdir.iterdir()) == []  # removed at the script's exit


@pytest.mark.parametrize("text", [
    "-----BEGIN PRIVATE KEY-----\nAAAA\nUJH_TLS_EOF\ntouch /tmp/pwned\n-----END PRIVATE KEY-----\n",
    "-----BEGIN CERTIFICATE-----\n`id`\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\n$(id)\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nAA'\"AA\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n%s{{x}}\n",
    "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\nUJH_TLS_EOF\n",
    "", None, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
])
def test_anything_but_pem_never_reaches_a_batch_script(text):
    good = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
    with pytest.raises(ValueError, match="is not a PEM file"):
        tls_setup({"keyfile": good, "certfile": text, "cafile": good})


def test_a_name_that_is_not_one_word_gets_no_certificate_files(tmp_path):
    s = tls_spawner(tmp_path, name="../../hub-internal/x")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    with pytest.raises(web.HTTPError, match="cannot have a server"):
        asyncio.run(s.create_certs())
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_the_logged_batch_script_withholds_the_private_key(tmp_path):
    s = tls_spawner(tmp_path)
    asyncio.run(s.move_certs(asyncio.run(s.create_certs())))
    script = asyncio.run(s._get_batch_script(**dict(s.get_req_subvars(), cmd="x")))
    records = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(handler.format(record))
    s.log.addHandler(handler)
    try:
        s.log.setLevel(logging.DEBUG)
        s.log.debug("Spawner submitting script:\n%s", script)
    finally:
        s.log.removeHandler(handler)
    assert "[private key withheld]" in records[0] and "PRIVATE KEY-----\n" not in records[0]
    assert "BEGIN CERTIFICATE" in records[0]  # the certificates are not secret
