# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The hub_record_packages filter (its code is in hub_records.py, beside it; a file of its own for its documentation)."""

from __future__ import annotations

from ansible_collections.unopinionated.jupyterhub.plugins.filter.hub_records import hub_record_packages

DOCUMENTATION = r"""
name: hub_record_packages
short_description: The package names of hub records
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
- Used by the C(hub) role on what C(managed.json) records (see the C(hub_records) filter); returns the names of
  C(hub_package) records (packages a contributor installed into the hub environment).
options:
  _input:
    description: Records, C(KIND:PATH).
    type: list
    elements: str
    required: true
  lock:
    description:
      - The hub environment's lock (text). Packages it pins are left out, so that a package the lock pins is
        never removed because the role that recorded it is no longer chosen (C(jupyterhub-systemdspawner)).
    type: str
    default: ""
"""

EXAMPLES = r"""
stale_packages: "{{ stale | unopinionated.jupyterhub.hub_record_packages }}"
"""

RETURN = r"""
_value:
  description: Package names.
  type: list
  elements: str
"""


class FilterModule:
    def filters(self):
        return {"hub_record_packages": hub_record_packages}
