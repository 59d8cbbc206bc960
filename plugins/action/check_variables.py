# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Warn about variables named like the collection's that no role of it reads (typos)."""

from __future__ import annotations

import difflib
import os

import yaml
from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

ROLES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "roles")
# libyaml's loader where PyYAML has it: the pure-Python one takes 77 ms for the roles' specs here, libyaml 6.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def collection_variables(roles=ROLES):
    """Every option of every entry point of the collection's roles' argument specs."""
    names = set()
    for role in sorted(os.listdir(roles)):
        path = os.path.join(roles, role, "meta", "argument_specs.yml")
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                specs = (yaml.load(f, Loader=SAFE_LOADER) or {}).get("argument_specs") or {}
            for entry in specs.values():
                names.update((entry or {}).get("options") or {})
    return names


class ActionModule(ActionBase):
    """Runs on the controller only: nothing is sent to the host."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("names", "known"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        names = self._task.args.get("names", [])
        known = set(self._task.args.get("known") or collection_variables())
        if not isinstance(names, list) or not known:
            raise AnsibleActionFail("check_variables needs names (a list), and known (a non-empty list) if given")
        unknown = sorted(name for name in names if name not in known and not name.startswith("__"))
        warnings = []
        for name in unknown:
            nearest = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.75)
            warnings.append(
                "%s is set but no role of unopinionated.jupyterhub reads it%s"
                % (name, ": did you mean %s?" % nearest[0] if nearest else " (ignored)")
            )
        result.update(changed=False, unknown=unknown)
        if warnings:
            result["warnings"] = warnings
        return result
