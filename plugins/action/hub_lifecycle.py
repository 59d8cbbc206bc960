# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The hub_lifecycle module, after one look at the host that needs no module: a trial where nothing
differs, and a probe that succeeds at its first attempt, end there (most converges)."""

from __future__ import annotations

from ansible.plugins.action import ActionBase
from ansible_collections.unopinionated.jupyterhub.plugins.action.files import lookable
from ansible_collections.unopinionated.jupyterhub.plugins.action.look import look_with_script, module_utils_text
from ansible_collections.unopinionated.jupyterhub.plugins.module_utils.host_files import attributes


def files_entries(args):
    """The files entries that say what a trial compares (its entries and quiet ones with their
    kinds' attributes, and what it removes); None where the arguments are not plain enough to say."""
    entries, quiet = args.get("entries", []), args.get("quiet", [])
    defaults, remove = args.get("defaults", {}), args.get("remove", [])
    if not (isinstance(entries, list) and isinstance(quiet, list) and isinstance(defaults, dict)
            and isinstance(remove, list) and all(isinstance(path, str) for path in remove)
            and all(isinstance(entry, dict) and isinstance(entry.get("path"), str)
                    and isinstance(entry.get("content", ""), str) for entry in entries + quiet)
            and all(isinstance(default, dict) for default in defaults.values())):
        return None
    looked = [dict(attributes(entry, defaults), path=entry["path"], content=entry.get("content") or "")
              for entry in entries + quiet]
    looked += [{"path": path, "state": "absent"} for path in remove]
    return looked if lookable(looked) else None


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        args = self._task.args
        state = args.get("state", "tried")
        if state == "tried":
            looked = files_entries(args)
            answer = look_with_script(self, task_vars, module_utils_text("host_files.py"), looked) if looked is not None else None
            if answer is not None and answer["answer"] is None:  # nothing differs: no trial, no backup
                result.update(changed=False, changed_paths={}, quiet_paths={}, attributes={}, warnings_from_trial=[])
                return result
        elif state == "probed" and isinstance(args.get("url"), str):
            asked = {"url": args["url"], "port": int(args.get("port", 443)), "certificate": args.get("certificate")}
            answer = look_with_script(self, task_vars, module_utils_text("hub_health.py"), asked)
            if answer is not None and isinstance(answer["answer"], list) and answer["answer"][0] is None:
                result.update(changed=False, certificate_sha256=answer["answer"][1], status=answer["answer"][2])
                return result
        # Something differs, or the first attempt failed (the module retries, and says why it fails).
        result.update(self._execute_module(module_name="unopinionated.jupyterhub.hub_lifecycle",
                                           module_args=args, task_vars=task_vars))
        return result
