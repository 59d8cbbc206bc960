"""The spawn form on the real cluster: what Slurm's accounting (slurmdbd, MariaDB) allows each
directory user, checked on the hub before sbatch; the pending reason while a job waits; the
job's end time on the home page; the site's modules (Lmod) in the lab. Debian's chromium, driven by Playwright, for what users see."""

import re
import statistics
import time

import pytest
from playwright.sync_api import expect
from test_slurm import PASSWORD, USER, alice, hub_log_since, journal_cursor, jobs, spawn, stop  # noqa: F401
from ujh_testlib import api, browser_context, debian_chromium, login, run_in_kernel, wait_until


@pytest.fixture(scope="module")
def browser():
    with debian_chromium() as browser:
        yield browser


@pytest.fixture
def page(browser, hub_url):
    """A browser logged in as alice."""
    context = browser_context(browser)
    page = context.new_page()
    page.goto(f"{hub_url}/hub/login")
    page.fill("#username_input", USER)
    page.fill("#password_input", PASSWORD[USER])
    page.click("#login_submit")
    page.wait_for_url(re.compile(r"/(hub/spawn|hub/home|user/)"))
    yield page
    context.close()


def options_of(page, name):
    return page.locator(f"select[name={name}] option").evaluate_all("els => els.map(e => e.value)")


def submitted(host):
    """How many jobs alice ever submitted (Slurm's accounting)."""
    return len(host.check_output(f"sacct -n -X -u {USER} -S 2020-01-01 -o JobID").split())


def test_the_form_offers_what_slurm_allows_alice_and_her_choices_reach_the_job(page, alice, host, hub_url):
    page.goto(f"{hub_url}/hub/spawn")
    assert options_of(page, "profile") == ["small", "large", "slowstart"]  # not gpulab: not her group
    assert sorted(options_of(page, "account")) == ["course101", "physics"]  # her associations, not chemistry
    assert page.locator("select[name=account]").input_value() == "physics"  # her default account
    assert options_of(page, "qos") == ["", "normal", "short"]  # scavenger is hers, not on the site's list
    assert options_of(page, "partition") == ["", "debug", "big"]
    assert options_of(page, "reservation") == ["", "course101-later"]  # not chemistry's
    page.select_option("select[name=account]", "course101")
    page.select_option("select[name=qos]", "normal")
    page.select_option("select[name=partition]", "big")
    page.fill("input[name=runtime]", "0:45:00")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(f"/user/{USER}/"))
    (job,) = jobs(host)
    detail = host.check_output(f"squeue -h -j {job[0]} -o '%a %q %P %l %e'").split()
    assert detail[:4] == ["course101", "normal", "big", "45:00"], detail
    # The home page says when Slurm ends the job (its own end time).
    page.goto(f"{hub_url}/hub/home")
    note = page.locator("#slurm-job-end")
    expect(note).to_contain_text(f"Slurm job {job[0]}")
    expect(note).to_contain_text(detail[4].replace("T", " "))
    expect(note).to_contain_text("in 0 h 4")  # 45 minutes, minus the seconds the test took
    stop(alice, hub_url, host)


def test_the_pending_page_shows_the_jobs_state_and_slurms_reason(page, alice, host, hub_url):
    page.goto(f"{hub_url}/hub/spawn")
    page.select_option("select[name=account]", "course101")
    page.select_option("select[name=reservation]", "course101-later")  # begins in a week
    page.click("form button[type=submit]")
    job_id = wait_until(lambda: next((j[0] for j in jobs(host) if j[1] == "PENDING"), None), what="the pending job")
    assert host.check_output(f"squeue -h -j {job_id} -o %r") == "Reservation"
    expect(page.locator("#progress-message")).to_contain_text(
        f"Slurm job {job_id} is pending: Reservation (waiting for its reservation to begin)")
    host.check_output(f"scancel {job_id}")
    wait_until(lambda: not api(alice, hub_url, "GET", f"/users/{USER}").json()["servers"], what="the spawn to end")


def test_carols_groups_open_the_labs_profile_and_her_own_accounts(host, hub_url):
    carol = login(hub_url, "carol", PASSWORD["carol"])
    form = carol.get(f"{hub_url}/hub/spawn", timeout=60).text
    assert 'value="gpulab"' in form and 'value="chemistry"' in form and 'value="long"' in form
    assert 'value="physics"' not in form and 'value="course101-later"' not in form
    assert 'value="chemistry-later"' in form


@pytest.mark.parametrize("options", [
    {"profile": "gpulab"},  # a profile of a group alice is not in
    {"profile": "small", "account": "chemistry"},  # an account with no association of hers
    {"profile": "small", "qos": "long"},  # a QoS of the site's list, not in her associations
    {"profile": "small", "qos": "scavenger"},  # in her associations, not on the site's list
    {"profile": "small", "reservation": "chemistry-later"},  # another account's reservation
    {"profile": "small", "partition": "debug-x"},  # no such partition for the profile
    {"profile": "large", "partition": "debug"},  # a partition the profile does not list
    {"profile": "small", "runtime": "2:00:01"},  # over the profile's bound
    {"profile": "large", "runtime": "1:00:01"},  # over the site's runtime (large has no bound of its own)
    {"profile": "small", "runtime": "0:45:00\n#SBATCH --uid=0"},
    {"profile": "small", "account": "physics --uid=0"},
    {"profile": "small", "account": "physics\n#SBATCH --account=chemistry"},
    {"profile": "small", "reservation": "course101-later' $(id)"},
    {"profile": "small", "qos": ["normal", "short"]},
    {"profile": "small", "options": "--uid=0"},
])
def test_choices_outside_what_slurm_and_the_site_allow_are_refused_before_sbatch(alice, host, hub_url, options):
    before = submitted(host)
    r = api(alice, hub_url, "POST", f"/users/{USER}/server", json=options)
    assert r.status_code in (400, 403), r.text
    assert jobs(host) == [] and submitted(host) == before
    assert not api(alice, hub_url, "GET", f"/users/{USER}").json()["servers"]


def test_a_job_that_can_never_start_fails_the_spawn_with_slurms_reason(alice, host, hub_url):
    # The QoS "short" allows 10 minutes a job: Slurm takes the job and holds it for good.
    cursor = journal_cursor(host)
    started = time.monotonic()
    r = api(alice, hub_url, "POST", f"/users/{USER}/server", json={"profile": "small", "qos": "short",
                                                                   "runtime": "0:30:00"})
    # 500: the spawn failed before JupyterHub answered (its slow_spawn_timeout, 10 s).
    assert r.status_code in (201, 202, 500), r.text
    wait_until(lambda: not api(alice, hub_url, "GET", f"/users/{USER}").json()["servers"], timeout=90,
               interval=0.5, what="the spawn to fail")
    elapsed = time.monotonic() - started
    print(f"a job that can never start failed the spawn {elapsed:.1f}s after the request")
    assert elapsed <= 60
    log = wait_until(lambda: (lambda text: "can never start" in text and text)(hub_log_since(host, cursor)),
                     what="the hub's reason")
    assert "QOSMaxWallDurationPerJobLimit" in log
    job_id = re.search(r"Slurm job (\d+) can never start", log).group(1)
    wait_until(lambda: "CANCELLED" in host.check_output(f"sacct -n -X -j {job_id} -o State"), what="the job cancelled")


def test_a_job_whose_reservation_ends_while_it_waits_fails_the_spawn_with_slurms_reason(alice, host, hub_url):
    # One core of the node for course101 for 20 s: a 2-CPU job waits in it, then the reservation
    # ends and Slurm holds the job for good (RESV_DEL_HOLD). (Slurm refuses to delete a reservation
    # that a pending job uses: "Requested reservation is in use".)
    host.check_output("scontrol create reservation ReservationName=course101-now StartTime=now EndTime=now+20"
                      " Nodes=ujh-slurm-compute CoreCnt=1 PartitionName=big Accounts=course101")
    cursor = journal_cursor(host)
    # Not yet in the hub's cached list: the hub asks Slurm again before it refuses.
    r = api(alice, hub_url, "POST", f"/users/{USER}/server", json={"profile": "large", "account": "course101",
                                                                   "reservation": "course101-now"})
    assert r.status_code in (201, 202), r.text
    wait_until(lambda: next((j for j in jobs(host) if j[1] == "PENDING"), None), what="the job waiting in the reservation")
    wait_until(lambda: "course101-now" not in host.check_output("scontrol -o show reservation"), timeout=120,
               what="the reservation to end")
    ended = time.monotonic()
    wait_until(lambda: not api(alice, hub_url, "GET", f"/users/{USER}").json()["servers"], timeout=90,
               interval=0.5, what="the spawn to fail")
    print(f"a job whose reservation ended failed the spawn {time.monotonic() - ended:.1f}s after the reservation went")
    log = wait_until(lambda: (lambda text: "can never start" in text and text)(hub_log_since(host, cursor)),
                     what="the hub's reason")
    assert "can never start (RESV_DEL_HOLD, Reservation course101-now was deleted)" in log, log[-2000:]
    wait_until(lambda: jobs(host) == [], what="the held job to be cancelled")


def test_the_labs_module_panel_loads_a_site_module_that_a_new_kernel_sees(page, alice, host, hub_url):
    spawn(alice, hub_url, {"profile": "small"})
    page.goto(f"{hub_url}/user/{USER}/lab")
    # jupyterlmod's panel (the jobs' environment), on Debian's Lmod that the job started.
    page.locator('.jp-SideBar li.lm-TabBar-tab[data-id="module-jupyterlab"]').click()
    item = page.locator("#module_avail_list li.jp-Module-item").filter(
        has=page.locator("span.jp-Module-itemLabel", has_text="ujh-hello"))
    expect(item).to_have_count(1)
    item.hover()
    item.locator("button.jp-Module-itemButton").click()
    expect(page.locator("#module_loaded_list")).to_contain_text("ujh-hello/1.0")
    token = alice.headers["Authorization"].split(" ", 1)[1]
    out, error = run_in_kernel(hub_url, USER, token, "import os, shutil, subprocess;"
                               " print(os.environ.get('LOADEDMODULES'));"
                               " print(subprocess.run(['ujh-hello'], capture_output=True, text=True).stdout.strip())")
    assert error is None, error
    assert out.split("\n")[:2] == ["ujh-hello/1.0", "hello from a module"], out
    stop(alice, hub_url, host)


ACCOUNTS = 500


def test_the_form_with_500_accounts(alice, host, hub_url):
    """Measured, not asserted beyond the form listing them all: the figures go to the log."""
    names = ",".join(f"bench{i:03d}" for i in range(ACCOUNTS))
    started = time.monotonic()
    host.check_output(f"sacctmgr -i add account {names} Cluster=ujh >/dev/null")
    host.check_output(f"sacctmgr -i add user {USER} Account={names} >/dev/null")
    added = time.monotonic() - started
    try:
        sacctmgr = []
        for _ in range(5):
            started = time.monotonic()
            host.check_output("sacctmgr -nP show associations format=user,account,partition,qos >/dev/null")
            sacctmgr.append(time.monotonic() - started)
        # The hub's cached lists take the new accounts within its cache time (10 s here).
        wait_until(lambda: alice.get(f"{hub_url}/hub/spawn", timeout=60).text.count('value="bench') == ACCOUNTS,
                   timeout=120, what=f"the form to list {ACCOUNTS} more accounts")
        renders = []
        for _ in range(20):
            started = time.monotonic()
            r = alice.get(f"{hub_url}/hub/spawn", timeout=60)
            renders.append(time.monotonic() - started)
            assert r.status_code == 200
        print(f"form with {ACCOUNTS + 2} accounts: GET /hub/spawn median {statistics.median(renders) * 1000:.0f} ms"
              f" (max {max(renders) * 1000:.0f} ms, 20 samples); sacctmgr show associations median"
              f" {statistics.median(sacctmgr) * 1000:.0f} ms; adding the accounts took {added:.1f}s")
    finally:
        host.check_output(f"sacctmgr -i delete user {USER} Account={names} >/dev/null")
        host.check_output(f"sacctmgr -i delete account {names} >/dev/null")
