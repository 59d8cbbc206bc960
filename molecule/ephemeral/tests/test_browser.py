"""The ephemeral hub in a real browser: Debian's chromium driven by Playwright."""

import re
import statistics
import urllib.parse

import pytest
from ephemeral import (
    DYNAMIC_UIDS, LAB_READY, PASSWORD, hub_users, seconds_to_jupyterlab, stop_server, unit, user_of,
)
from playwright.sync_api import expect
from ujh_testlib import BROWSER_TIMEOUT_MS, browser_context, debian_chromium, unit_pid, wait_until


@pytest.fixture(scope="module")
def browser():
    with debian_chromium() as browser:
        yield browser


@pytest.fixture
def page(browser):
    context = browser_context(browser)
    yield context.new_page()
    context.close()


def submit_password(page, password):
    page.fill("#password_input", password)
    page.click("#login_submit")


def test_wrong_then_right_password_and_a_notebook_cell_runs(page, host, hub_url):
    page.goto(f"{hub_url}/hub/login")
    expect(page.locator("input[name=username]")).to_have_count(0)
    before = set(hub_users(hub_url))
    submit_password(page, "not-the-password")
    expect(page.locator(".login_error")).to_contain_text("Wrong password")
    assert set(hub_users(hub_url)) == before

    submit_password(page, PASSWORD)
    page.wait_for_selector(LAB_READY)
    name = user_of(page)
    assert name not in before
    # The shared teaching directory shows in the file browser.
    expect(page.locator(".jp-DirListing-content").get_by_text("teaching", exact=True)).to_be_visible()
    page.locator(".jp-LauncherCard[data-category='Notebook']").first.click()
    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible()
    editor = page.locator(".jp-Notebook .jp-Cell .cm-content").first
    editor.click()
    page.keyboard.type("import os; os.getuid()")
    expect(editor).to_contain_text("os.getuid()")
    page.keyboard.press("Shift+Enter")
    output = page.locator(".jp-OutputArea-output").first
    expect(output).to_have_text(re.compile(r"^\d+$"))
    uid = int(output.inner_text())
    assert uid in DYNAMIC_UIDS, uid
    server_uid = int(host.check_output(f"ps -o uid= -p {unit_pid(host, unit(name))}"))
    assert uid == server_uid
    stop_server(host, hub_url, name)


def test_nbgitpuller_link_clones_the_course_into_the_session(page, host, hub_url, git_repo):
    query = urllib.parse.urlencode({"repo": git_repo, "branch": "main", "urlpath": "lab/tree/course/hello.ipynb"})
    page.goto(f"{hub_url}/hub/user-redirect/git-pull?{query}")
    submit_password(page, PASSWORD)  # a new visitor lands on the login page first
    page.wait_for_url(re.compile(r"/user/[^/]+/lab/tree/course/hello\.ipynb"))
    name = user_of(page)
    assert host.file(f"/var/lib/private/{name}/course/hello.ipynb").exists
    expect(page.locator(".jp-Notebook")).to_be_visible()
    stop_server(host, hub_url, name)


def test_time_from_password_to_jupyterlab(browser, host, hub_url):
    times, names, _ = zip(*(seconds_to_jupyterlab(browser, hub_url, BROWSER_TIMEOUT_MS) for _ in range(5)))
    print(f"\n[ephemeral] password submit -> JupyterLab ready (browser): median of 5 "
          f"{statistics.median(times):.1f} s {[round(t, 1) for t in times]}")
    for name in names:
        stop_server(host, hub_url, name)


@pytest.fixture(scope="module")
def git_repo(host):
    """A course repository served by git daemon on the hub host (no internet)."""
    notebook = ('{"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Hello"]}], '
                '"metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    host.check_output(
        "rm -rf /srv/git && mkdir -p /srv/git/work && cd /srv/git/work && git init -q -b main . && "
        f"printf '%s' '{notebook}' > hello.ipynb && git add hello.ipynb && "
        "git -c user.name=Teacher -c user.email=teacher@example.org commit -q -m 'First lesson' && "
        "git clone -q --bare /srv/git/work /srv/git/course"
    )
    host.check_output("systemd-run --unit=ujh-test-git --collect /usr/bin/git daemon --reuseaddr "
                      "--listen=127.0.0.1 --port=9418 --export-all --base-path=/srv/git /srv/git")
    wait_until(lambda: host.socket("tcp://127.0.0.1:9418").is_listening, timeout=30, what="git daemon")
    yield "git://127.0.0.1/course"  # nbgitpuller clones into ~/course
    host.run("systemctl stop ujh-test-git")
