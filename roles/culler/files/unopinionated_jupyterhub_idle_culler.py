# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Start jupyterhub-idle-culler so that it dies with the hub that started it.

Usage (the culler role's fragment, as a hub-managed service's command):
    python unopinionated_jupyterhub_idle_culler.py HUB_PID [jupyterhub-idle-culler options]

The kernel sends the culler SIGTERM when its parent exits (PR_SET_PDEATHSIG), so a hub
killed with SIGKILL leaves no culler behind beside its successor's (the hub unit's
KillMode=process keeps users' local servers, and would keep an orphaned culler too).
HUB_PID closes the race of a hub that died before the signal was asked for.
"""

import ctypes
import os
import runpy
import signal
import sys

PR_SET_PDEATHSIG = 1


def die_with_parent(hub_pid):
    """Ask for SIGTERM when the parent exits; exit now if the parent is not the hub any more."""
    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise SystemExit("prctl(PR_SET_PDEATHSIG) failed: errno %d" % ctypes.get_errno())
    if os.getppid() != hub_pid:
        raise SystemExit("the hub that started this culler (pid %d) is gone" % hub_pid)


def main(argv, module="jupyterhub_idle_culler"):
    if len(argv) < 2 or not argv[1].isdigit():
        raise SystemExit(__doc__)
    die_with_parent(int(argv[1]))
    sys.argv = [argv[0]] + argv[2:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv)
