# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The lock_version filter (its code is in known_hashes.py, beside it; a file of its own for its documentation)."""

from __future__ import annotations

from ansible_collections.unopinionated.jupyterhub.plugins.filter.known_hashes import lock_version

DOCUMENTATION = r"""
name: lock_version
short_description: The version a lock or a conda environment file pins a package at
version_added: 0.3.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - Used by the C(slurm_spawner) role's preflight to compare the JupyterHub of the jobs' environment with the hub's
    before anything changes. Reads C(NAME==VERSION) entries of a pip lock as C(roles/_common/files/venv_check.py)
    does (hashes, continuation lines, any spelling of the name), or C(- NAME=VERSION) lines of a conda environment file.
options:
  _input:
    description: The lock's or the environment file's text.
    type: str
    required: true
  name:
    description: The package.
    type: str
    required: true
"""

EXAMPLES = r"""
hub_version: "{{ lookup('ansible.builtin.file', 'requirements.txt') | unopinionated.jupyterhub.lock_version('jupyterhub') }}"
"""

RETURN = r"""
_value:
  description: The pinned version, or an empty string when the text does not pin the package.
  type: str
"""


class FilterModule:
    def filters(self):
        return {"lock_version": lock_version}
