# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The account_changes filter: which groups and users the roles' group and user tasks would change."""

from __future__ import annotations

DOCUMENTATION = r"""
name: account_changes
short_description: Which of a role's groups and users a group or user task would create or change
version_added: 0.4.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - Used by the C(proxy) and C(hub) roles so that a converged host costs one keyed C(getent) lookup instead of
    one C(group) or C(user) task per account (each a module run). Reads the lines of C(getent passwd USER...)
    and C(getent group GROUP...) (keyed, so a site's whole directory is never enumerated).
  - A group is to be made when no line names it. A user is to be made or changed when no line names it, or its
    primary group is not the wanted group (by number, from the group's line; a group being made makes its users
    change too), or its login shell or (when given) its home differs.
options:
  _input:
    description: The lookup's output lines, passwd and group lines in any order.
    type: list
    elements: str
    required: true
  users:
    description: The wanted users, each C(name), C(group), C(shell) and optionally C(home).
    type: list
    elements: dict
    default: []
  groups:
    description: The wanted groups' names.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
changes: >-
  {{ lookup_result.stdout_lines | unopinionated.jupyterhub.account_changes(
       users=[{'name': 'www-data', 'group': 'www-data', 'shell': '/usr/sbin/nologin'}], groups=['www-data']) }}
"""

RETURN = r"""
_value:
  description: C(groups), the names of the groups to make; C(users), the names of the users to make or change.
  type: dict
"""


def account_changes(lines, users=(), groups=()):
    passwd, group_ids = {}, {}
    for line in lines:
        fields = line.split(":")
        if len(fields) == 7:  # name:password:uid:gid:gecos:home:shell
            passwd[fields[0]] = fields
        elif len(fields) == 4:  # name:password:gid:members
            group_ids[fields[0]] = fields[2]
    missing_groups = [name for name in groups if name not in group_ids]
    changed_users = []
    for user in users:
        entry = passwd.get(user["name"])
        if (entry is None or user["group"] not in group_ids or entry[3] != group_ids[user["group"]]
                or entry[6] != user["shell"] or (user.get("home") is not None and entry[5] != user["home"])):
            changed_users.append(user["name"])
    return {"groups": missing_groups, "users": changed_users}


class FilterModule:
    def filters(self):
        return {"account_changes": account_changes}
