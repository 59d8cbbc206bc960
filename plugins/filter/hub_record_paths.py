# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The hub_record_paths filter (its code is in hub_records.py, beside it; a file of its own for its documentation)."""

from __future__ import annotations

from ansible_collections.unopinionated.jupyterhub.plugins.filter.hub_records import hub_record_paths

DOCUMENTATION = r"""
name: hub_record_paths
short_description: The paths of hub records that root may remove
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
- Used by the C(hub) role on what C(managed.json) records (see the C(hub_records) filter).
- Returns the paths of records that are normalized absolute paths strictly below one of O(roots), without C(..),
  whitespace or control characters. Anything else in a record (a hand-edited or corrupt C(managed.json)), and every
  C(hub_package) record, is left out.
options:
  _input:
    description: Records, C(KIND:PATH).
    type: list
    elements: str
    required: true
  roots:
    description: Absolute directories a path must be below.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
stale_files: "{{ stale | unopinionated.jupyterhub.hub_record_paths([jupyterhub_base_dir, '/etc']) }}"
"""

RETURN = r"""
_value:
  description: The paths root may remove.
  type: list
  elements: str
"""


class FilterModule:
    def filters(self):
        return {"hub_record_paths": hub_record_paths}
