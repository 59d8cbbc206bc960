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

import yaml

from ujh_testlib import BASE, UNINSTALL, hub_health_through_traefik, recap, run_site, unit_pid

# The table of bad inputs, shared with the unit layer (which checks each message names only what
# is wrong): here every case runs against the converged host.
TABLE = yaml.safe_load((Path(__file__).resolve().parents[3] / "tests" / "bad_inputs.yml").read_text())
CASES = [(case["vars"], case["says"]) for case in TABLE["preflight"] + TABLE["on_host"]]


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
    /etc/systemd (the hub's env and uv's cache left out: large, and only the installer writes them)."""
    return host.check_output(
        f"find {BASE} /etc/systemd /etc/sudoers.d /etc/tmpfiles.d -path '{BASE}/env' -prune -o -path '{BASE}/uv-cache' -prune "
        "-o -type f "
        "! -name 'jupyterhub.sqlite*' ! -name 'rules*.yaml' ! -name 'rules-*.json' ! -name jupyterhub.pid "
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


def test_a_mirror_set_only_in_pip_conf_stops_uv_before_any_change(host, hub_url):
    # uv (the default installer) reads no pip.conf: a site whose mirror is set only there would
    # have its hosts ask PyPI. The play stops first, naming the file and the variables.
    hub_pid = unit_pid(host, "jupyterhub.service")
    before = host_fingerprint(host)
    host.check_output("printf '[global]\\nindex-url = https://mirror.invalid/simple\\n' > /etc/pip.conf")
    try:
        # The scenarios' own index (the test wheelhouse's) is unset: the site's mirror is pip.conf's only.
        result = run_site("-e", json.dumps({"jupyterhub_pip_index_url": ""}))
        again = run_site("-e", json.dumps({"jupyterhub_pip_index_url": "", "jupyterhub_installer": "pip"}),
                         "--tags", "never")  # the way out it names
    finally:
        host.check_output("rm -f /etc/pip.conf")
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0
    assert ("/etc/pip.conf on this host name a package index or find-links for pip, and uv (jupyterhub_installer: uv, "
            "the default) does not read pip's configuration: set jupyterhub_pip_index_url") in output, output[-3000:]
    assert recap(result)["changed"] == 0
    assert host_fingerprint(host) == before
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
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
