"""Running site.yml again as a site would: bad input, fragments, check mode.

These run after test_default.py (pytest keeps file order) because some of them
restart the hub.
"""

import json

import pytest

from ujh_testlib import BASE, recap, run_site, scenario_group_vars, unit_pid, wait_until

FRAGMENTS = scenario_group_vars("default")["hub_config_fragments"]


def managed_files_fingerprint(host):
    """Path, mode, owner, mtime and content hash of every file the roles manage.

    Runtime data the hub itself writes (database, routes, pid) is left out.
    """
    paths = f"{BASE} /etc/systemd/system/jupyterhub.service /etc/systemd/system/jupyterhub-proxy.service"
    return host.check_output(
        f"find {paths} -path '*/env' -prune -o -type f "
        "! -name 'jupyterhub.sqlite*' ! -name rules.toml ! -name jupyterhub.pid "
        "-printf '%p %m %u %T@ ' -exec sha256sum {} \\; | sort | sha256sum"
    )


@pytest.mark.parametrize(
    "extra_vars, names",
    [
        ({"hub_env_backend": "conda"}, "hub_env_backend"),
        ({"proxy_https_port": "https"}, "proxy_https_port"),
        ({"hub_pip_extra_requirements": ["jupyter_server"]}, "hub_pip_extra_requirements"),
        ({"hub_config_fragments": {"../escape": "c = 1"}}, "hub_config_fragments"),
        ({"proxy_tls_mode": "files"}, "proxy_tls_cert_file"),
        ({"hub_base_dir": "/srv/jupyterhub"}, "hub_base_dir -> jupyterhub_base_dir"),
        ({"jupyterhub_spawner_role": "kubespawner"}, "jupyterhub_spawner_role"),
    ],
)
def test_bad_input_stops_the_play_before_anything_changes_and_names_the_variable(host, extra_vars, names):
    before = managed_files_fingerprint(host)
    result = run_site("-e", json.dumps(extra_vars))
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert names in output, output[-2000:]
    assert recap(result)["changed"] == 0
    after = managed_files_fingerprint(host)
    assert before == after


def test_a_fragment_with_a_syntax_error_is_rejected_and_the_hub_keeps_running(host):
    hub_pid = unit_pid(host, "jupyterhub.service")
    broken = dict(FRAGMENTS, **{"30-broken": "c.JupyterHub.log_level = ('DEBUG'\n"})
    result = run_site("-e", json.dumps({"hub_config_fragments": broken}), "--tags", "hub_configure")
    assert result.returncode != 0
    assert "30-broken" in result.stdout
    assert not host.file(f"{BASE}/config.d/30-broken.py").exists
    assert unit_pid(host, "jupyterhub.service") == hub_pid
    assert host.run("curl -sf http://127.0.0.1:8081/hub/health").rc == 0


def test_fragments_the_site_removes_are_deleted_and_the_hub_restarts(host):
    extra = dict(FRAGMENTS, **{"90-extra": "c.JupyterHub.shutdown_on_logout = False\n"})
    result = run_site("-e", json.dumps({"hub_config_fragments": extra}))
    assert result.returncode == 0, result.stdout[-3000:]
    fragment = host.file(f"{BASE}/config.d/90-extra.py")
    assert fragment.exists and fragment.mode == 0o640 and fragment.user == "root"
    pid_with_extra = unit_pid(host, "jupyterhub.service")

    # A complete run (no --tags): only that sees every role's part and removes the rest.
    result = run_site()
    assert result.returncode == 0, result.stdout[-3000:]
    assert not host.file(f"{BASE}/config.d/90-extra.py").exists
    for name in FRAGMENTS:
        assert host.file(f"{BASE}/config.d/{name}.py").exists
    assert unit_pid(host, "jupyterhub.service") != pid_with_extra, "removing a fragment must restart the hub"
    wait_until(lambda: host.run("curl -sf http://127.0.0.1:8081/hub/health").rc == 0, what="hub health")
