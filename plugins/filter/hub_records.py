# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The hub role's record of what the roles asked for (managed.json), and what root may remove from it."""

from __future__ import annotations

import posixpath
import re

DOCUMENTATION = r"""
name: hub_records
short_description: Record the contributions handed to the hub as KIND:PATH
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - Used by the C(hub) role. Every contribution handed to the hub (C(tasks/contribute.yml)) is recorded in
    C(managed.json) as C(KIND:PATH), a C(hub_package) as C(hub_package:NAME), the name of its pinned spec.
    What the last complete run recorded and this one did not is removed (C(tasks/service.yml)), and an
    uninstall removes what the record names outside the base directory (C(tasks/uninstall.yml)); see the
    C(hub_record_paths) and C(hub_record_packages) filters.
options:
  _input:
    description: Contributions, each with C(kind) and C(path).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
records: "{{ __hub_contribution | unopinionated.jupyterhub.hub_records }}"
"""

RETURN = r"""
_value:
  description: One C(KIND:PATH) record per contribution.
  type: list
  elements: str
"""

RECORD = re.compile(r"^([a-z_]+):(.*)$", re.S)
# A spec's name: what comes before a version, marker or extras (batchspawner==1.3.0 -> batchspawner).
SPEC_NAME = re.compile(r"[=<>!~;\[].*$", re.S)
UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")


def hub_records(contributions):
    records = []
    for item in contributions:
        path = str(item["path"])
        records.append("%s:%s" % (item["kind"], SPEC_NAME.sub("", path).strip() if item["kind"] == "hub_package" else path))
    return records


def _split(record):
    match = RECORD.match(str(record))
    return match.groups() if match else (None, None)


def _below(path, roots):
    if not path.startswith("/") or UNSAFE.search(path) or posixpath.normpath(path) != path:
        return False
    return any(path.startswith(root.rstrip("/") + "/") for root in roots if root.startswith("/") and root != "/")


def hub_record_paths(records, roots):
    paths = []
    for record in records:
        kind, path = _split(record)
        if kind and kind != "hub_package" and _below(path, roots):
            paths.append(path)
    return paths


def hub_record_packages(records, lock=""):
    """The package names of hub_package records, but for those the hub environment's own lock pins
    (they stay in the environment whichever role recorded them)."""
    from ansible_collections.unopinionated.jupyterhub.plugins.filter.known_hashes import lock_version

    return [path for kind, path in map(_split, records)
            if kind == "hub_package" and path and not (lock and lock_version(lock, path))]


class FilterModule:
    def filters(self):
        # hub_record_paths and hub_record_packages: their own files (their documentation).
        return {"hub_records": hub_records}
