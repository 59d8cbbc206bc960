# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The hub role's record of what the roles asked for (managed.json), and what root may remove from it."""

from __future__ import annotations

import posixpath
import re

DOCUMENTATION = r"""
name: hub_records
short_description: Record the hub's contributions as KIND:PATH, and read paths and packages back from a record
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - Used by the C(hub) role. Every contribution handed to the hub (C(tasks/contribute.yml)) is recorded in
    C(managed.json) as C(KIND:PATH); a C(hub_package) as C(hub_package:NAME), the name of its pinned spec.
    What the last complete run recorded and this one did not is removed (C(tasks/service.yml)), and an
    uninstall removes what the record names outside the base directory (C(tasks/uninstall.yml)).
  - C(hub_records) makes the records of a list of contributions. C(hub_record_paths) returns the paths of
    records that root may remove: normalized absolute paths strictly below one of O(roots), without C(..),
    whitespace or control characters; anything else in a record (a hand-edited or corrupt C(managed.json))
    is left alone. C(hub_record_packages) returns the package names of C(hub_package) records.
options:
  _input:
    description: Contributions (C(hub_records)) or records (C(hub_record_paths), C(hub_record_packages)).
    type: list
    elements: raw
    required: true
  roots:
    description: The directories a removed path must be below (C(hub_record_paths)).
    type: list
    elements: str
"""

EXAMPLES = r"""
records: "{{ __hub_contribution | unopinionated.jupyterhub.hub_records }}"
stale_files: "{{ stale | unopinionated.jupyterhub.hub_record_paths([jupyterhub_base_dir, '/etc']) }}"
stale_packages: "{{ stale | unopinionated.jupyterhub.hub_record_packages }}"
"""

RETURN = r"""
_value:
  description: Records (C(KIND:PATH)), paths, or package names.
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


def hub_record_packages(records):
    return [path for kind, path in map(_split, records) if kind == "hub_package" and path]


class FilterModule:
    def filters(self):
        return {"hub_records": hub_records, "hub_record_paths": hub_record_paths,
                "hub_record_packages": hub_record_packages}
