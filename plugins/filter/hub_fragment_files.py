# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Where on the controller each {src: FILE} / {template: FILE} fragment of hub_config_fragments is."""

from __future__ import annotations

import os

DOCUMENTATION = r"""
name: hub_fragment_files
short_description: Find the controller file of each file fragment of hub_config_fragments
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - >-
    Used by the C(hub) role (preflight, and the C(hub_site_fragments) lookup). For every fragment given as
    C({src: FILE}) or C({template: FILE}), the file on the controller: an absolute FILE as it is, a
    relative one looked up in each directory of O(search) in turn (the inventory's, then the playbook's);
    the first that is a file wins. When none is, the value names every place looked at, joined by C( or ),
    so that preflight can say where it looked. Fragments given as text are left out.
options:
  _input:
    description: hub_config_fragments.
    type: dict
    required: true
  search:
    description: Directories to look in, in order; empty entries are skipped.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
files: "{{ hub_config_fragments | unopinionated.jupyterhub.hub_fragment_files([inventory_dir, playbook_dir]) }}"
"""

RETURN = r"""
_value:
  description: Fragment name to the file found, or to the places looked at (C(A or B)) when none is a file.
  type: dict
"""


def hub_fragment_files(fragments, search):
    files = {}
    for name, value in (fragments or {}).items():
        if not isinstance(value, dict) or len(value) != 1:
            continue
        path = str(next(iter(value.values())))
        tried = [path] if os.path.isabs(path) else [os.path.join(str(d), path) for d in search if d]
        files[name] = next((p for p in tried if os.path.isfile(p)), " or ".join(tried))
    return files


class FilterModule:
    def filters(self):
        return {"hub_fragment_files": hub_fragment_files}
