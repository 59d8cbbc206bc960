# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Which of the site's CA certificate files cannot go into a host's trust store, and why."""

from __future__ import annotations

DOCUMENTATION = r"""
name: certificate_problems
short_description: The files of a list that are not PEM certificates, each with why
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - >-
    Used by the preflight of the C(_common) role with C(jupyterhub_ca_certificates), paths on the controller:
    each file must hold one or more PEM certificates and no other PEM block (C(update-ca-certificates)
    silently skips a file that is not PEM, and every download that needs it then fails far from the cause;
    a private key would land in the world-readable trust store). Text around the blocks is allowed. Returns a
    mapping of each refused path to a one-line reason; empty when every file is fine. Paths that are not
    files are left to the caller's own check. Runs on the controller with the cryptography package
    ansible-core needs.
options:
  _input:
    description: Paths of the certificate files on the controller.
    type: list
    elements: path
    required: true
"""

EXAMPLES = r"""
problems: "{{ jupyterhub_ca_certificates | unopinionated.jupyterhub.certificate_problems }}"
"""

RETURN = r"""
_value:
  description: Each refused path, with the reason in one line.
  type: dict
"""

import os
import re

BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


def problem(text):
    """None when ``text`` is one or more PEM certificates, else why not (one line)."""
    # Imported here: ansible-core needs cryptography, but loading the plugin must not.
    from cryptography import x509

    if text.lstrip().startswith("$ANSIBLE_VAULT"):
        return "it is vault-encrypted (a CA certificate is public: give it in clear)"
    blocks = list(BLOCK.finditer(text))
    if not blocks:
        return "it holds no PEM block (-----BEGIN CERTIFICATE-----); convert a DER file with openssl x509 -inform der"
    # A key here would land in a world-readable trust store.
    kinds = sorted({block.group(1) for block in blocks} - {"CERTIFICATE"})
    if kinds:
        return "it holds a %s block, where only CERTIFICATE blocks belong" % " and a ".join(kinds)
    for number, block in enumerate(blocks, 1):
        try:
            x509.load_pem_x509_certificate(block.group(0).encode())
        except ValueError as error:
            return "its certificate %d does not load (%s)" % (number, " ".join(str(error).split())[:120])
    return None


def certificate_problems(paths):
    problems = {}
    for path in paths:
        if not os.path.isfile(path):
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            reason = problem(f.read())
        if reason:
            problems[path] = reason
    return problems


class FilterModule:
    def filters(self):
        return {"certificate_problems": certificate_problems}
