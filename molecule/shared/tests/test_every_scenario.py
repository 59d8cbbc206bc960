"""What every scenario proves about its converged hosts (run by each scenario's verify)."""

import pytest

from ujh_testlib import recap, run_site


def test_check_mode_on_a_converged_host_reports_no_changes():
    result = run_site("--check", "--diff")
    assert result.returncode == 0, result.stdout[-3000:]
    assert recap(result)["changed"] == 0, result.stdout[-3000:]


def test_a_first_converge_starts_the_hub_once_and_a_second_does_not_restart_it(host):
    # One line per converge (molecule/shared/converge.yml): hub starts since boot.
    record = host.file("/root/hub-starts-per-converge")
    if not record.exists:
        pytest.fail("converge did not record the hub's starts")
    first, second = (int(n) for n in record.content_string.split()[:2])
    print(f"\n[hub starts] first converge {first}, second converge {second - first}")
    assert 1 <= first <= 2, f"the first converge started the hub {first} times"
    assert second == first, f"the second converge restarted the hub {second - first} times"
