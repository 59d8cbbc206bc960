# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The lock_entries filter (its code is in known_hashes.py, beside it; a file of its own for its documentation)."""

from __future__ import annotations

from ansible_collections.unopinionated.jupyterhub.plugins.filter.known_hashes import lock_entries

DOCUMENTATION = r"""
name: lock_entries
short_description: The entries of a requirements text, one logical line each
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - >-
    Used by the C(_common) role's C(venv) entry point for an environment that does not exist yet, where
    everything in the lock is missing. Returns the lock's entries with comments dropped and continuation
    lines joined, as C(roles/_common/files/venv_check.py) reads them on the host.
options:
  _input:
    description: A requirements text (a lock), as pip reads it.
    type: str
    required: true
"""

EXAMPLES = r"""
missing: "{{ lookup('ansible.builtin.file', 'requirements.txt') | unopinionated.jupyterhub.lock_entries }}"
"""

RETURN = r"""
_value:
  description: One string per entry, C(NAME==VERSION) with its C(--hash) options and marker, as written.
  type: list
  elements: str
"""


class FilterModule:
    def filters(self):
        return {"lock_entries": lock_entries}
