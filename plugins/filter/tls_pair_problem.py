# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Can this certificate and key serve HTTPS? The proxy role's preflight asks, on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
name: tls_pair_problem
short_description: Why a PEM certificate and key cannot serve HTTPS, or nothing
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - >-
    Used by the C(proxy) role's preflight with the site's proxy_tls_cert_file and proxy_tls_key_file as
    Ansible's file lookup reads them (it decrypts ansible-vault files, so a vaulted key is checked as what it
    holds). Empty when the certificate parses, has not expired and the key is its key; otherwise one line
    that says why, never the key. Runs on the controller with the cryptography package ansible-core needs.
options:
  _input:
    description: The certificate (PEM).
    type: str
    required: true
  key:
    description: The private key (PEM, not encrypted).
    type: str
    required: true
"""

EXAMPLES = r"""
problem: "{{ lookup('file', 'hub.crt') | unopinionated.jupyterhub.tls_pair_problem(lookup('file', 'hub.key')) }}"
"""

RETURN = r"""
_value:
  description: Empty when the pair can serve HTTPS, else the reason in one line.
  type: str
"""

import datetime


def problem(cert_pem, key_pem, now=None):
    """None when the pair can serve HTTPS, else why not (one line)."""
    # Imported here: ansible-core needs cryptography, but loading the plugin must not.
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

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


def tls_pair_problem(cert_pem, key_pem):
    return problem(str(cert_pem), str(key_pem)) or ""


class FilterModule:
    def filters(self):
        return {"tls_pair_problem": tls_pair_problem}
