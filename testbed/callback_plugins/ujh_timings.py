"""Test-bed callback: append each task's wall time to $UJH_TIMINGS_FILE (JSON lines).

testbed/test sets the file per scenario and prints, at the end of a run, each
scenario's task count and its five slowest tasks. Not part of the collection.
"""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: ujh_timings
type: aggregate
short_description: per-task wall times for the test bed's summary table
description: Appends one JSON line per task (playbook, task, seconds, action, and how it ended - ok,
  changed, skipped, failed) to $UJH_TIMINGS_FILE.
requirements: [UJH_TIMINGS_FILE set in the environment]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ujh_timings"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("UJH_TIMINGS_FILE")
        self._playbook = ""
        self._current = None  # (task name, start, action)
        self._ended = None  # the last result's status (a loop: any item that ran counts)

    def _flush(self):
        if self._current and self._path:
            name, start, action = self._current
            with open(self._path, "a", encoding="utf-8") as out:
                out.write(json.dumps({"playbook": self._playbook, "task": name,
                                      "seconds": round(time.monotonic() - start, 3),
                                      "action": action, "ended": self._ended}) + "\n")
        self._current = None
        self._ended = None

    def _end(self, status):
        if self._ended in (None, "skipped") or status in ("changed", "failed"):
            self._ended = status

    def v2_runner_on_ok(self, result):
        self._end("changed" if result._result.get("changed") else "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._end("failed")

    def v2_runner_on_skipped(self, result):
        self._end("skipped")

    def v2_playbook_on_start(self, playbook):
        self._playbook = os.path.basename(playbook._file_name)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._flush()
        self._current = (task.get_name().strip(), time.monotonic(), task.action)

    def v2_playbook_on_handler_task_start(self, task):
        self.v2_playbook_on_task_start(task, False)

    def v2_playbook_on_stats(self, stats):
        self._flush()
