# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Can this certificate and key serve HTTPS? Run on the controller by the proxy role's preflight.

Reads {"cert": PEM, "key": PEM} as JSON on stdin (the role reads both files with
Ansible's file lookup, which decrypts ansible-vault files: a vaulted key is checked
as what it holds, and never appears in a command line). Exits 0 when the
certificate parses, has not expired and the key is its key; otherwise exits with
one line that says why. Needs the cryptography package ansible-core itself needs.
Unit tests: tests/unit/test_tls_pair_check.py.
"""

import datetime
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import serialization


def problem(cert_pem, key_pem, now=None):
    """None when the pair can serve HTTPS, else why not (one line)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem.encode())
    except ValueError as error:
        return "the certificate does not load (%s)" % error
    if key_pem.lstrip().startswith("$ANSIBLE_VAULT"):
        return "the key is still vault-encrypted (give ansible-playbook the vault password)"
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except (TypeError, ValueError) as error:
        return "the key does not load without a password (%s)" % type(error).__name__
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if (key.public_key().public_bytes(serialization.Encoding.DER, public)
            != cert.public_key().public_bytes(serialization.Encoding.DER, public)):
        return "the key is not the certificate's key"
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if cert.not_valid_after_utc < now:
        return "the certificate expired on %s" % cert.not_valid_after_utc.date()
    return None


def main():
    pair = json.load(sys.stdin)
    why = problem(pair["cert"], pair["key"])
    if why:
        sys.exit(why)


if __name__ == "__main__":
    main()
