"""The proxy role's certificate and key check (roles/proxy/files/tls_pair_check.py)."""

import datetime
import json
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import tls_pair_check

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
    assert tls_pair_check.problem(cert, key) is None
    assert tls_pair_check.problem(cert, other_key) == "the key is not the certificate's key"
    assert tls_pair_check.problem(expired_cert, expired_key).startswith("the certificate expired on ")
    assert tls_pair_check.problem(key, key).startswith("the certificate does not load")
    assert tls_pair_check.problem(cert, "$ANSIBLE_VAULT;1.1;AES256\n6136...").startswith("the key is still vault")
    assert tls_pair_check.problem(cert, cert).startswith("the key does not load without a password")


def test_the_program_reads_the_pair_on_stdin_and_exits_with_the_reason():
    cert, key = pair()
    _other_cert, other_key = pair()
    script = tls_pair_check.__file__
    ok = subprocess.run([sys.executable, script], input=json.dumps({"cert": cert, "key": key}),
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0 and ok.stderr == ""
    bad = subprocess.run([sys.executable, script], input=json.dumps({"cert": cert, "key": other_key}),
                         capture_output=True, text=True, check=False)
    assert bad.returncode == 1 and bad.stderr.strip() == "the key is not the certificate's key"
