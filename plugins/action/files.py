# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The files module, after one look at the host that needs no module: where every entry is as it
asks, the module does not run (a converge's files tasks change nothing on most runs)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.unopinionated.jupyterhub.plugins.action.look import look_with_script, module_utils_text

KEYS = {"path", "state", "content", "owner", "group", "mode", "validate", "keep_existing"}
STATES = {None, "directory", "file", "attributes", "absent"}


def lookable(entries):
    """Whether the entries are plain enough for the look (what is not goes straight to the module,
    whose argument checks then say what is wrong)."""
    return isinstance(entries, list) and all(
        isinstance(entry, dict) and set(entry) <= KEYS and isinstance(entry.get("path"), str)
        and entry.get("state") in STATES and isinstance(entry.get("content", ""), str)
        and all(isinstance(entry.get(key), (str, int, type(None))) for key in ("owner", "group", "mode"))
        and isinstance(entry.get("keep_existing", False), bool)
        for entry in entries)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        entries = self._task.args.get("entries")
        if lookable(entries) and set(self._task.args) == {"entries"}:
            looked = look_with_script(self, task_vars, module_utils_text("host_files.py"), entries)
            if looked is not None and looked["answer"] is None:
                result.update(changed=False, changed_paths={})
                if self._task.diff:
                    result["diff"] = []
                return result
        result.update(self._execute_module(module_name="unopinionated.jupyterhub.files",
                                           module_args=self._task.args, task_vars=task_vars))
        return result
