# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The found_entries filter: what a find run by the hub role printed, read without trusting names."""

from __future__ import annotations

DOCUMENTATION = r"""
name: found_entries
short_description: The directories and regular files a find printed, each with its owner, group and mode
version_added: 0.4.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - >-
    Used by the C(hub) role, which looks at its secrets and route file with one C(find) (run by the
    C(look) action, with no module on the host) instead of C(ansible.builtin.find). Reads what
    C(find ... -printf '%d\t%y\t%u\t%g\t%#m\t%p\0') printed (the output text, NUL-terminated records).
  - >-
    Each record's path comes last and ends at its NUL, which no file name can hold; a name with tabs or
    newlines (the hub's user names what it makes in its state directory) stays inside its own record and can
    never make a record of its own.
options:
  _input:
    description: The output of find, as described.
    type: str
    required: true
"""

EXAMPLES = r"""
found: "{{ look_result.stdout | unopinionated.jupyterhub.found_entries }}"
"""

RETURN = r"""
_value:
  description: >-
    C(directories): the paths found at depth 0 that are directories (the starting points that are);
    C(files): the regular files found at depth 1, each C(path), C(pw_name), C(gr_name) and C(mode) (C(0640)),
    as C(ansible.builtin.find) names them.
  type: dict
"""


def found_entries(output):
    if not isinstance(output, str):
        raise TypeError("found_entries reads find's output (text), not %s" % type(output).__name__)
    directories, files = [], []
    for record in output.split("\0"):
        fields = record.split("\t", 5)
        if len(fields) != 6:
            continue
        depth, kind, user, group, mode, path = fields
        if depth == "0" and kind == "d":
            directories.append(path)
        elif depth == "1" and kind == "f":
            files.append({"path": path, "pw_name": user, "gr_name": group, "mode": mode})
    return {"directories": directories, "files": files}


class FilterModule:
    def filters(self):
        return {"found_entries": found_entries}
