"""The proxy role's certificate and key check (plugins/filter/tls_pair_problem.py)."""

import datetime
import textwrap

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import run_playbook

from ansible_collections.unopinionated.jupyterhub.plugins.filter.tls_pair_problem import problem

NOW = datetime.datetime.now(datetime.timezone.utc)


def pair(days=30):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub.example.org")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(NOW - datetime.timedelta(days=2))
            .not_valid_after(NOW + datetime.timedelta(days=days)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def test_a_good_pair_passes_and_each_fault_is_named():
    cert, key = pair()
    other_cert, other_key = pair()
    expired_cert, expired_key = pair(days=-1)
    assert problem(cert, key) is None
    assert problem(cert, other_key) == "the key is not the certificate's key"
    assert problem(expired_cert, expired_key).startswith("the certificate expired on ")
    assert problem(key, key).startswith("the certificate does not load")
    assert problem(cert, "$ANSIBLE_VAULT;1.1;AES256\n6136...").startswith("the key is still vault")
    assert problem(cert, cert).startswith("the key does not load without a password")


def test_preflight_names_what_is_wrong_and_never_shows_the_key(tmp_path):
    """As the proxy role runs it: the files through Ansible's file lookup, the filter in an assert."""
    cert, key = pair()
    _other_cert, other_key = pair()
    (tmp_path / "hub.crt").write_text(cert)
    (tmp_path / "good.key").write_text(key)
    (tmp_path / "other.key").write_text(other_key)
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - ansible.builtin.assert:
                that: problem | length == 0
                fail_msg: "cannot serve HTTPS: {{ problem }}"
                quiet: true
              vars:
                problem: "{{ lookup('file', 'hub.crt') | unopinionated.jupyterhub.tls_pair_problem(lookup('file', key)) }}"
        """))
    runs = {name: run_playbook(playbook, "-vvv", "-e", f"key={name}") for name in ("good.key", "other.key")}
    assert runs["good.key"].returncode == 0, runs["good.key"].stdout[-2000:]
    bad = runs["other.key"].stdout + runs["other.key"].stderr
    assert runs["other.key"].returncode == 2 and "cannot serve HTTPS: the key is not the certificate's key" in bad
    secret_line = other_key.splitlines()[1]
    assert all(secret_line not in run.stdout + run.stderr and key.splitlines()[1] not in run.stdout + run.stderr
               for run in runs.values())
