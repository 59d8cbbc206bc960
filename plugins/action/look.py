# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Look at something on the host with one command, without sending a Python module."""

from __future__ import annotations

import json
import os
import shlex

from ansible import constants as C
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.action import ActionBase


def command_line(argv, stdin=None):
    """``argv`` as one line of the host's POSIX shell, each word quoted (nothing in it is split or
    expanded); without ``stdin`` the command reads /dev/null."""
    if not isinstance(argv, list) or not argv or not all(isinstance(word, str) for word in argv):
        raise AnsibleActionFail("look needs argv: a non-empty list of strings (now %r)" % (argv,))
    if any("\0" in word for word in argv):
        raise AnsibleActionFail("look: a word of argv holds a NUL byte, which no command line can carry")
    if stdin is not None and not isinstance(stdin, str):
        raise AnsibleActionFail("look: stdin must be text (now %s)" % type(stdin).__name__)
    line = " ".join(shlex.quote(word) for word in argv)
    return line if stdin is not None else line + " </dev/null"


def host_python(action, task_vars):
    """The Python the host's modules run with (ansible_python_interpreter, the configured one, or the
    one discovered for this host); None where it is not known yet."""
    value = task_vars.get("ansible_python_interpreter") or C.config.get_config_value("INTERPRETER_PYTHON",
                                                                                     variables=task_vars)
    if not value or str(value).startswith("auto"):
        value = (task_vars.get("ansible_facts") or {}).get("discovered_interpreter_python")
    return action._templar.template(value) if value else None


MODULE_UTILS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "module_utils")


def module_utils_text(name):
    """The text of plugins/module_utils/NAME (standard library only), for look_with_script."""
    with open(os.path.join(MODULE_UTILS, name), encoding="utf-8") as f:
        return f.read()


def look_with_script(action, task_vars, script, request):
    """What ``script`` (the text of a standard-library-only Python file) prints as JSON when the host's
    Python runs it with ``request`` as JSON on its stdin; None where this cannot be asked in one round
    trip (the connection does not pipeline, no Python known yet) or the script did not answer."""
    python = host_python(action, task_vars)
    if not python or not action._connection.is_pipelining_enabled():
        return None
    done = action._low_level_execute_command(command_line([python, "-I", "-c", script], ""),
                                             in_data=to_bytes(json.dumps(request)))
    if done["rc"] != 0:
        return None
    try:
        return {"answer": json.loads(done["stdout"])}
    except ValueError:
        return None


class ActionModule(ActionBase):
    """Runs the command in the connection's own shell session (as a pipelined module is); where
    the connection does not pipeline, or the task sets an environment, the module of the same name runs it."""

    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("argv", "stdin"))

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        argv = self._task.args.get("argv")
        stdin = self._task.args.get("stdin")
        line = command_line(argv, stdin)
        # The module also where the task sets an environment (only a module's process gets one).
        if not self._connection.is_pipelining_enabled() or (self._task.environment and any(self._task.environment)):
            result.update(self._execute_module(module_name="unopinionated.jupyterhub.look",
                                               module_args={"argv": argv, "stdin": stdin}, task_vars=task_vars))
            return result
        # Always some input: a connection gives a command without any a terminal, which would merge
        # its stderr into its stdout (and end lines with CR).
        done = self._low_level_execute_command(line, in_data=to_bytes(stdin if stdin is not None else "\n"))
        out, err = done["stdout"].rstrip("\r\n"), done["stderr"].rstrip("\r\n")  # as ansible.builtin.command
        result.update(rc=done["rc"], stdout=out, stderr=err, stdout_lines=out.splitlines(), stderr_lines=err.splitlines(),
                      changed=False, cmd=argv)
        if done["rc"] != 0:
            result.update(failed=True, msg="non-zero return code")
        return result
