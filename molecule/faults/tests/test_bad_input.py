"""Bad input, as a careless admin or an attacker types it: every case stops the
play before anything on the host changes, and says which variable (or fragment)
is wrong; the running hub keeps answering through traefik.

The whole table runs in one ansible-playbook run: every case is a host alias of
the scenario's one container (ansible_host), with the case's variables as host
variables, so each alias fails (or, if a case got through, changes the host:
then the fingerprint and the recap say so).
"""

import datetime
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ujh_testlib import BASE, UNINSTALL, hub_health_through_traefik, recap, run_site, unit_pid

# Where the culler and the proxy API live by default (the scenario keeps them).
API_PORT = 8099

CASES = [
    # The hub's variables.
    ({"hub_env_backend": "conda"}, "hub_env_backend"),
    ({"hub_env_backend": "miniforge", "hub_miniforge_installer_url": "http://mirror.example/Miniforge3.sh"},
     "hub_miniforge_installer_sha256"),
    ({"hub_venv_requirements_file": "/nonexistent/requirements.txt"}, "hub_venv_requirements_file"),
    ({"hub_venv_lock_write_back": "/nonexistent/locks/hub.txt"}, "hub_venv_lock_write_back"),
    ({"jupyterhub_pip_wheelhouse": "/nonexistent/wheels"}, "jupyterhub_pip_wheelhouse"),
    ({"hub_pip_extra_requirements": ["jupyter_server"]}, "hub_pip_extra_requirements"),
    ({"jupyterhub_pip_index_url": "https://site:pw@mirror.example.org/\n[global]"}, "jupyterhub_pip_index_url"),
    ({"hub_pip_extra_requirements": "jupyter_server==2.21.1"}, "hub_pip_extra_requirements"),
    ({"hub_bind_url": "http://127.0.0.1:99999"}, "hub_bind_url"),
    ({"hub_bind_url": f"http://127.0.0.1:{API_PORT}"}, "hub_bind_url"),
    ({"hub_bind_url": "http://127.0.0.1:443"}, "hub_bind_url"),
    ({"hub_bind_url": "127.0.0.1:8081"}, "hub_bind_url"),
    ({"hub_bind_url": "http://127.0.0.1:8081/hub/"}, "hub_bind_url"),
    ({"hub_public_url": "https://my hub.example.org/"}, "hub_public_url"),
    ({"hub_public_url": "https://hub.example.org"}, "hub_public_url"),
    ({"hub_public_url": "ftp://hub.example.org/"}, "hub_public_url"),
    ({"hub_public_url": "https://hub_.example.org/"}, "hub_public_url"),
    ({"hub_db_url": "not a url"}, "hub_db_url"),
    ({"hub_db_url": "mariadb+pymysql://hub:secret@db/hub"}, "hub_db_url"),
    ({"hub_db_url": "mysql://hub@db/hub"}, "hub_db_url"),
    ({"hub_db_password": "secret-without-a-url"}, "hub_db_password"),
    ({"hub_cookie_secret": "short"}, "hub_cookie_secret"),
    ({"hub_crypt_key": "zz" * 32}, "hub_crypt_key"),
    ({"hub_proxy_api_password": "short"}, "hub_proxy_api_password"),
    ({"hub_metrics_enabled": True, "hub_metrics_api_token": "short"}, "hub_metrics_api_token"),
    ({"hub_backup_dir": f"{BASE}/backups"}, "hub_backup_dir"),
    ({"hub_restore_from": "backups/20261123T000000Z"}, "hub_restore_from"),
    ({"hub_run_as_root": "maybe"}, "hub_run_as_root"),
    ({"hub_config_fragments": {"../escape": "c = 1"}}, "hub_config_fragments"),
    ({"hub_config_fragments": {"40-missing": {"src": "/nonexistent/fragment.py"}}}, "hub_config_fragments"),
    ({"hub_config_fragments": "c.JupyterHub.log_level = 'DEBUG'"}, "hub_config_fragments"),
    ({"hub_environment": {"BAD NAME": "x"}}, "hub_environment"),
    ({"hub_environment": {"TWO_LINES": "a\nb"}}, "hub_environment"),
    ({"hub_environment": "PYTHONPATH=/tmp"}, "hub_environment"),
    ({"hub_health_timeout": -1}, "hub_health_timeout"),
    # Collection-wide.
    ({"jupyterhub_base_dir": "/"}, "jupyterhub_base_dir"),
    ({"jupyterhub_base_dir": "opt/jupyterhub"}, "jupyterhub_base_dir"),
    ({"jupyterhub_base_dir": ""}, "jupyterhub_base_dir"),
    ({"jupyterhub_base_dir": "/usr"}, "jupyterhub_base_dir"),
    ({"jupyterhub_base_dir": "/opt/jupyter hub"}, "jupyterhub_base_dir"),
    ({"jupyterhub_base_dir": "/opt/../etc/jupyterhub"}, "jupyterhub_base_dir"),
    ({"jupyterhub_base_dir": "/opt/jupyterhub/"}, "jupyterhub_base_dir"),
    ({"jupyterhub_user": "root"}, "jupyterhub_user"),
    ({"jupyterhub_spawner_role": "kubespawner"}, "jupyterhub_spawner_role"),
    ({"jupyterhub_proxy_api_port": 70000}, "jupyterhub_proxy_api_port"),
    ({"jupyterhub_pip_find_links": "/srv/wheelhouse"}, "jupyterhub_pip_find_links"),
    ({"jupyterhub_ca_certificates": ["/nonexistent/ca.pem"]}, "jupyterhub_ca_certificates"),
    ({"hub_base_dir": "/srv/jupyterhub"}, "hub_base_dir -> jupyterhub_base_dir"),
    # The proxy's.
    ({"proxy_https_port": "https"}, "proxy_https_port"),
    ({"proxy_http_port": 443}, "proxy_http_port"),
    ({"proxy_https_port": API_PORT}, "proxy_https_port"),
    ({"proxy_tls_mode": "files"}, "proxy_tls_cert_file"),
    ({"proxy_tls_mode": "acme"}, "proxy_acme_email"),
    ({"proxy_tls_mode": "acme", "proxy_acme_email": "admin@example.org", "proxy_http_port": 8080},
     "must be 80 (now 8080)"),
    ({"proxy_tls_mode": "acme", "proxy_acme_email": "admin@example.org",
      "proxy_acme_domains": ["other.example.org"]}, "that include hub_public_url's host"),
    ({"proxy_tls_mode": "acme", "proxy_acme_email": "admin@example.org",
      "proxy_acme_ca_server": "http://acme.example.org/dir"}, "proxy_acme_ca_server"),
    ({"proxy_tls_mode": "tls"}, "proxy_tls_mode"),
    ({"proxy_hsts_max_age": -1}, "proxy_hsts_max_age"),
    ({"proxy_server_header": "two\nlines"}, "proxy_server_header"),
    ({"proxy_metrics_enabled": True, "proxy_metrics_address": "127.0.0.1:443"}, "proxy_metrics_address"),
    ({"proxy_tls_self_signed_days": -1}, "proxy_tls_self_signed_days"),
    ({"proxy_tls_self_signed_name": "two words"}, "proxy_tls_self_signed_name"),
    ({"proxy_user": "root"}, "proxy_user"),
    ({"proxy_log_level": "LOUD"}, "proxy_log_level"),
    # The culler's.
    ({"culler_timeout": "soon"}, "culler_timeout"),
    ({"culler_every": 7200}, "culler_every"),
    ({"culler_users_timeout": 60}, "culler_users_timeout"),
    # systemd_spawner's (with what it needs besides, so only the bad value stops it).
    ({"jupyterhub_spawner_role": "systemd_spawner", "hub_run_as_root": True,
      "systemd_spawner_shared_password": "faults-shared-password", "systemd_spawner_concurrent_starts": -1},
     "systemd_spawner_concurrent_starts"),
    # Fragments that are valid Python but do not load: named, with the line.
    ({"hub_config_fragments": {"30-syntax": "c.JupyterHub.log_level = ('DEBUG'\n"}}, "30-syntax.py, line 1"),
    ({"hub_config_fragments": {"30-divide": "x = 1\ny = 1 / 0\n"}}, "30-divide.py, line 2"),
    ({"hub_config_fragments": {"30-import": "import no_such_module\n"}}, "30-import.py, line 1"),
    ({"hub_config_fragments": {"30-spawner": "c.JupyterHub.spawner_class = 'no-such-spawner'\n"}},
     "30-spawner.py"),
    ({"hub_config_fragments": {"30-trait": "c.Spawner.start_timeout = 'soon'\n"}}, "30-trait.py"),
    ({"hub_config_fragments": {"30-port": "c.JupyterHub.port = 'eighty'\n"}}, "30-port.py"),
]


def _pem_pair(directory, name):
    """A self-signed certificate and its key, made on the controller."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=2))
            .not_valid_after(now + datetime.timedelta(days=30) if name != "expired" else now - datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def host_fingerprint(host):
    """Path, mode, owner, mtime and content hash of every file under the base directory and
    /etc/systemd (the hub's env left out: large, and only pip writes it)."""
    return host.check_output(
        f"find {BASE} /etc/systemd /etc/sudoers.d /etc/tmpfiles.d -path '{BASE}/env' -prune -o -type f "
        "! -name 'jupyterhub.sqlite*' ! -name rules.yaml ! -name jupyterhub.pid "
        "-printf '%p %m %u %T@ ' -exec sha256sum {} \\; | sort | sha256sum"
    )


def table_inventory(tmp_path, cases):
    """molecule's inventory, with one host alias of the container per case instead of the container."""
    inventory_dir = tmp_path / "inventory"
    shutil.copytree(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent, inventory_dir)
    inventory_file = inventory_dir / "ansible_inventory.yml"
    inventory = yaml.safe_load(inventory_file.read_text())
    (name, connection), = inventory["all"]["hosts"].items()
    aliases = {}
    for number, (variables, _expected) in enumerate(cases):
        aliases[f"bad-{number:02d}"] = dict(connection, ansible_host=name, **variables)
    inventory["all"]["hosts"] = {}
    inventory["jupyterhub_hosts"]["hosts"] = aliases
    inventory_file.write_text(yaml.safe_dump(inventory))
    return inventory_file


def failure_messages(output):
    """{alias: the text after 'fatal: [alias]: FAILED! =>'} from a run's output."""
    messages = {}
    for match in re.finditer(r"(?:fatal|failed): \[(bad-\d+)[^\]]*\](?: \(item=[^\n]*?\))?(?::| =>) "
                             r"(?:FAILED! => )?(.*?)(?=\n\S|\Z)", output, re.S):
        messages.setdefault(match.group(1), match.group(2))
    return messages


def test_every_bad_input_stops_before_any_change_and_names_the_variable(host, hub_url, tmp_path):
    good_cert, good_key = _pem_pair(tmp_path, "hub.example.org")
    other_cert, other_key = _pem_pair(tmp_path, "other.example.org")
    expired_cert, expired_key = _pem_pair(tmp_path, "expired")
    cases = CASES + [
        ({"proxy_tls_mode": "files", "proxy_tls_cert_file": good_cert, "proxy_tls_key_file": other_key},
         "proxy_tls_key_file"),
        ({"proxy_tls_mode": "files", "proxy_tls_cert_file": expired_cert, "proxy_tls_key_file": expired_key},
         "expired"),
        ({"proxy_tls_mode": "files", "proxy_tls_cert_file": good_key, "proxy_tls_key_file": good_key},
         "proxy_tls_cert_file"),
    ]
    # A local Miniforge installer is checked against its sha256 before anything changes
    # (issue 25: copy's checksum is SHA-1, so every sha256 failed, after changes).
    installer = tmp_path / "Miniforge3-local.sh"
    installer.write_text("#!/bin/sh\nexit 1\n")
    cases.append(({"hub_env_backend": "miniforge", "hub_miniforge_installer_file": str(installer),
                   "hub_miniforge_installer_sha256": "0" * 64}, "hub_miniforge_installer_sha256"))
    # A vaulted key is read as what it holds (issue 25: preflight read the raw file and
    # refused every vaulted key): here the pair is checked, and found expired.
    vault_password = tmp_path / "vault-password"
    vault_password.write_text("ujh-faults-vault-password\n")
    vaulted_key = tmp_path / "expired.key.vault"
    subprocess.run(["ansible-vault", "encrypt", "--vault-password-file", str(vault_password),
                    "--output", str(vaulted_key), expired_key], check=True, capture_output=True)
    cases.append(({"proxy_tls_mode": "files", "proxy_tls_cert_file": expired_cert,
                   "proxy_tls_key_file": str(vaulted_key)}, "expired"))
    assert len(cases) >= 40
    before = host_fingerprint(host)
    hub_pid = unit_pid(host, "jupyterhub.service")

    result = run_site("--forks", "10", "--vault-password-file", str(vault_password),
                      inventory=table_inventory(tmp_path, cases), timeout=1800)
    output = result.stdout + result.stderr
    messages = failure_messages(output)
    counts = {alias: recap_line for alias, recap_line in
              re.findall(r"^(bad-\d+)\s*:\s*(ok=.*)$", result.stdout, re.M)}

    stopped, named, problems = 0, 0, []
    for number, (variables, expected) in enumerate(cases):
        alias = f"bad-{number:02d}"
        line = counts.get(alias, "")
        if "failed=1" in line and "changed=0" in line:
            stopped += 1
        else:
            problems.append(f"{alias} {variables}: not stopped cleanly ({line or 'no recap'})")
        if expected in messages.get(alias, ""):
            named += 1
        else:
            problems.append(f"{alias} {variables}: message does not name {expected!r}: "
                            f"{messages.get(alias, '(no failure)')[:300]}")
    print(f"\n[faults] bad inputs: {len(cases)} tried, {stopped} stopped cleanly, {named} named the variable")
    assert result.returncode != 0
    assert problems == [], "\n".join(problems) + "\n" + output[-3000:]

    assert host_fingerprint(host) == before, "a bad input changed files on the host"
    assert unit_pid(host, "jupyterhub.service") == hub_pid, "the hub was restarted"
    assert hub_health_through_traefik(hub_url) == 200


def test_an_inventory_without_jupyterhub_hosts_fails(tmp_path):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {"somewhere": {"ansible_host": "192.0.2.1"}}}}))
    result = run_site(inventory=inventory)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "jupyterhub_hosts" in output, output[-2000:]


def test_uninstall_refuses_a_base_directory_the_collection_did_not_make(host, hub_url):
    # A wrong jupyterhub_base_dir in the uninstall's inventory must not remove that directory.
    hub_pid = unit_pid(host, "jupyterhub.service")
    entries = host.check_output("ls -A /usr/share/doc | wc -l")
    result = run_site("-e", "jupyterhub_base_dir=/usr/share/doc", playbook=UNINSTALL)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "jupyterhub_base_dir ('/usr/share/doc') holds neither managed.json" in output, output[-3000:]
    assert recap(result)["changed"] == 0
    assert host.check_output("ls -A /usr/share/doc | wc -l") == entries
    assert unit_pid(host, "jupyterhub.service") == hub_pid
    assert hub_health_through_traefik(hub_url) == 200


def test_a_secret_in_a_fragment_never_shows_in_the_output(host, hub_url):
    secret = "s3cret-" + os.urandom(8).hex()
    fragments = {"10-test-auth": "c.JupyterHub.authenticator_class = 'dummy'\nc.Authenticator.allow_all = True\n",
                 "20-test-spawner": "c.JupyterHub.spawner_class = 'simple'\n",
                 "60-secret": f"c.DummyAuthenticator.password = {secret!r}\n"}
    result = run_site("-vvv", "--diff", "-e", json.dumps({"hub_config_fragments": fragments}))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert host.file(f"{BASE}/config.d/60-secret.py").contains(secret)
    assert secret not in output

    # A fragment that does not load, with the secret on the failing line: named, not shown.
    fragments["60-secret"] = f"c.DummyAuthenticator.password = {secret!r} +\n"
    result = run_site("-vvv", "-e", json.dumps({"hub_config_fragments": fragments}))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "60-secret.py, line 1" in output, output[-3000:]
    assert secret not in output

    result = run_site()  # back to the scenario's fragments
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert not host.file(f"{BASE}/config.d/60-secret.py").exists
    assert hub_health_through_traefik(hub_url) == 200


def test_a_typo_in_a_variable_name_is_warned_about_with_the_nearest_name(tmp_path):
    result = run_site("--tags", "never", "-e", json.dumps({"hub_publc_url": "https://hub.example.org/",
                                                           "proxy_https_prot": 8443}))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "hub_publc_url is set but no role of unopinionated.jupyterhub reads it: did you mean hub_public_url?" \
        in " ".join(output.split()), output[-3000:]
    assert "did you mean proxy_https_port?" in " ".join(output.split())
