"""The one pytest entry of every molecule scenario: the shared fixtures and helpers.

pytest loads this file for each scenario's tests/ and for molecule/shared/tests/
(added to every scenario by .config/molecule/config.yml).
"""

import os
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "shared" / "lib"))

from ujh_testlib import *  # noqa: E402,F401,F403  (fixtures shared by scenarios)


# The release whose run proves the collection's own logic (see the `once` marker).
FIRST_RELEASE = "bookworm"
_STARTED = pytest.StashKey[int]()


def pytest_configure(config):
    config.addinivalue_line("markers", "last: takes the deployment away; runs after every other test")
    config.addinivalue_line(
        "markers",
        "once: proves the collection's own logic, the same on every OS release (site runs that switch "
        f"settings); runs on {FIRST_RELEASE} only, and is deselected, as pytest's summary says, on another release")


def pytest_collection_modifyitems(config, items):
    """Tests marked `last` run after all others, the shared tests included (stable order).

    On a release other than FIRST_RELEASE (UJH_RELEASE, set by testbed/run-scenarios), tests
    marked `once` are deselected: what they prove does not depend on the OS, and each costs
    one or more full site runs. pytest reports them as deselected, never as passed.
    """
    release = os.environ.get("UJH_RELEASE", FIRST_RELEASE)
    if release != FIRST_RELEASE:
        deselected = [item for item in items if item.get_closest_marker("once")]
        if deselected:
            config.hook.pytest_deselected(items=deselected)
            items[:] = [item for item in items if not item.get_closest_marker("once")]
            print(f"\n[{release}] deselected {len(deselected)} tests marked once (run on {FIRST_RELEASE})")
    items.sort(key=lambda item: item.get_closest_marker("last") is not None)


# A failing test's report ends with what the hub and traefik logged while it ran (their last
# JOURNAL_LINES lines): a CI page shows the digest of a failed run (testbed/run-scenarios), not
# its whole log, and the host is gone by then. Tests without the `host` fixture get none.
JOURNAL_LINES = 40


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    item.stash[_STARTED] = int(time.time())
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    host = item.funcargs.get("host") if hasattr(item, "funcargs") else None
    if call.when != "call" or not report.failed or host is None:
        return
    since = item.stash.get(_STARTED, int(time.time()) - 300) - 1
    try:
        text = host.run(f"journalctl -u jupyterhub.service -u jupyterhub-proxy.service --since @{since} "
                        f"-n {JOURNAL_LINES} -o short-precise --no-pager").stdout
    except Exception as error:  # the host may be gone: the report says so instead
        text = f"(no journal: {error!r})"
    report.sections.append(("hub and proxy journal", text))
