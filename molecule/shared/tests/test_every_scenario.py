"""What every scenario proves about its converged hosts (run by each scenario's verify)."""

import pytest

from ujh_testlib import REPO, BASE, DROPIN_DIR, exposure, lock_entries, recap, run_site, scenario_group_vars


def test_check_mode_on_a_converged_host_reports_no_changes():
    result = run_site("--check", "--diff")
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result)["changed"] == 0, result.stdout[-3000:]


def test_a_first_converge_starts_the_hub_once_and_a_second_does_not_restart_it(host):
    # One line per converge (molecule/shared/converge.yml): hub starts since boot.
    record = host.file("/root/hub-starts-per-converge")
    if not record.exists:
        pytest.fail("converge did not record the hub's starts")
    first, second = (int(n) for n in record.content_string.split()[:2])
    print(f"\n[hub starts] first converge {first}, second converge {second - first}")
    assert 1 <= first <= 2, f"the first converge started the hub {first} times"
    assert second == first, f"the second converge restarted the hub {second - first} times"


def test_the_hub_and_proxy_units_stay_under_their_exposure_ceilings(host):
    # systemd-analyze security (0 safest .. 10): the proxy 1.5 (measured 1.4); a non-root hub
    # 1.5 (1.4); a root hub, the systemd_spawner's, 2.0 (1.9); the slurm_spawner's hub, whose
    # seccomp and namespace protections are off so that sudo works (its README), 6.0.
    if host.file(f"{DROPIN_DIR}/slurm-spawner.conf").exists:
        ceiling = 6.0
    elif host.check_output("systemctl show -p User --value jupyterhub.service") == "root":
        ceiling = 2.0
    else:
        ceiling = 1.5
    assert exposure(host, "jupyterhub.service") <= ceiling
    assert exposure(host, "jupyterhub-proxy.service") <= 1.5


def test_the_hub_env_holds_every_pin_of_its_lock_at_its_version(host):
    # Two hosts converged from one lock get the same packages at the same versions: every
    # pin of the lock the env was built from (the record on the host, with its hashes) is
    # installed at that version; what else pip freeze lists comes from the site's extras.
    lock = lock_entries(host.file(f"{BASE}/hub-requirements.txt").content_string)
    freeze = lock_entries(host.check_output(f"{BASE}/env/bin/python -I -m pip freeze --all"))
    assert len(lock) >= 60, sorted(lock)
    wrong = {name: (version, freeze.get(name, [None])[0]) for name, (version, _) in lock.items()
             if freeze.get(name, [None])[0] != version}
    assert not wrong, f"pins not installed as locked (lock, installed): {wrong}"
    print(f"\n[lock] {len(lock)} pins installed as locked; pip freeze lists {len(freeze)} packages")


def test_the_installer_the_site_chose_made_every_environment_and_each_has_pip(host):
    # jupyterhub_installer: uv (the default) fetched the pinned uv once and made each venv with
    # it (pyvenv.cfg names uv); pip made them where the scenario chose pip. Either way each
    # environment has pip, as a venv python -m venv made has (a user's pip install --user).
    installer = scenario_group_vars().get("jupyterhub_installer", "uv")
    configs = host.check_output(f"find {BASE} -maxdepth 3 -path {BASE}/uv-cache -prune -o -name pyvenv.cfg -print").split()
    assert f"{BASE}/env/pyvenv.cfg" in configs and f"{BASE}/proxy/env/pyvenv.cfg" in configs, configs
    made_by_uv = {path: "\nuv = " in "\n" + host.file(path).content_string for path in configs}
    pin = lock_entries((REPO / "roles/_common/files/uv-requirements.txt").read_text())["uv"][0]
    if installer == "uv":
        assert all(made_by_uv.values()), made_by_uv
        assert host.check_output(f"{BASE}/uv/bin/uv --version").split()[1] == pin
    else:
        assert not any(made_by_uv.values()) and not host.file(f"{BASE}/uv").exists, made_by_uv
    for path in configs:
        env = path.rsplit("/", 1)[0]
        assert host.run(f"{env}/bin/python -I -m pip --version").rc == 0, env
    print(f"\n[installer] {installer}: {len(configs)} environments")
