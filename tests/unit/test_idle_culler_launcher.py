"""The culler's launcher (roles/culler/files/unopinionated_jupyterhub_idle_culler.py): a
culler dies with the hub that started it, and never outlives a hub that is already gone.
Real processes: a parent that starts the launcher, then is killed with SIGKILL."""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

LAUNCHER = Path(__file__).resolve().parents[2] / "roles" / "culler" / "files" / "unopinionated_jupyterhub_idle_culler.py"


def test_a_launcher_whose_hub_is_not_its_parent_exits_at_once():
    result = subprocess.run([sys.executable, str(LAUNCHER), "1", "--help"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode != 0 and "the hub that started this culler (pid 1) is gone" in result.stderr
    result = subprocess.run([sys.executable, str(LAUNCHER), "not-a-pid"], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode != 0 and "Usage" in result.stderr


def test_the_culler_gets_sigterm_when_the_hub_is_killed(tmp_path):
    # A stand-in for jupyterhub_idle_culler that only waits: the launcher runs it by module name.
    (tmp_path / "waiting_culler.py").write_text("import time\nopen(__file__ + '.started', 'w').close()\n"
                                                "time.sleep(120)\n")
    hub = tmp_path / "hub.py"
    hub.write_text(textwrap.dedent(f"""\
        import os, subprocess, sys, time
        sys.path.insert(0, {str(LAUNCHER.parent)!r})
        code = ("import sys; sys.path.insert(0, {str(LAUNCHER.parent)!r}); sys.path.insert(0, {str(tmp_path)!r}); "
                "import unopinionated_jupyterhub_idle_culler as l; l.main(sys.argv, module='waiting_culler')")
        culler = subprocess.Popen([sys.executable, "-c", code, str(os.getpid())])
        print(culler.pid, flush=True)
        time.sleep(120)
        """))
    hub_process = subprocess.Popen([sys.executable, str(hub)], stdout=subprocess.PIPE, text=True)
    culler_pid = int(hub_process.stdout.readline())
    deadline = time.monotonic() + 30
    while not (tmp_path / "waiting_culler.py.started").exists():
        assert time.monotonic() < deadline, "the culler did not start"
        time.sleep(0.05)
    hub_process.send_signal(signal.SIGKILL)
    hub_process.wait(timeout=30)
    deadline = time.monotonic() + 30
    while True:  # gone (the parent's init reaps it) or a zombie of nobody's
        try:
            with open(f"/proc/{culler_pid}/stat") as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    break
        except FileNotFoundError:
            break
        assert time.monotonic() < deadline, "the culler outlived the hub that started it"
        time.sleep(0.05)
