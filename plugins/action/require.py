# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Refuse a group of settings, naming only the ones that are wrong."""

from __future__ import annotations

from ansible.errors import AnsibleActionFail
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase


def refused(checks):
    """The messages of the checks whose ``that`` is false, in order; a check is {that, msg}."""
    if not isinstance(checks, list) or not checks:
        raise AnsibleActionFail("require needs checks: a non-empty list of {that: BOOLEAN, msg: TEXT}")
    messages = []
    for number, check in enumerate(checks, 1):
        if not isinstance(check, dict) or set(check) != {"that", "msg"} or not isinstance(check["msg"], str):
            raise AnsibleActionFail("require: check %d must be {that: BOOLEAN, msg: TEXT}" % number)
        try:
            # Ansible 2.19 templates "{{ test }}" to a boolean; earlier releases to 'True'/'False'.
            passed = boolean(check["that"], strict=True)
        except TypeError:
            raise AnsibleActionFail("require: check %d has that=%r, not a boolean (write that: \"{{ TEST }}\")"
                                    % (number, check["that"])) from None
        if not passed:
            messages.append(" ".join(check["msg"].split()))
    return messages


class ActionModule(ActionBase):
    """Runs on the controller only: nothing is sent to the host."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _VALID_ARGS = frozenset(("checks",))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        messages = refused(self._task.args.get("checks"))
        result["changed"] = False
        if messages:
            result["failed"] = True
            result["msg"] = messages[0] if len(messages) == 1 else " ".join(
                "(%d) %s" % (number, message) for number, message in enumerate(messages, 1))
        return result
