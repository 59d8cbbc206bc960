"""The course hub: users of a real OpenID Connect provider with homes that last, their groups'
limits and folders, the site's announcement, logo and login page; in Debian's chromium.

The provider is LemonLDAP::NG on ujh-course-idp (prepare.yml). The browser reaches both hosts
by name (chromium's host resolver rules), as the provider's redirects name them.
"""

import html
import json
import re
import statistics
import subprocess
import time
from contextlib import closing

import pytest
import yaml
from playwright.sync_api import expect
from ujh_testlib import (
    REPO, STATE, browser_context, container_ip, debian_chromium, https_session, run_site, scenario_group_vars,
    wait_until,
)

HUB_VARS = scenario_group_vars("course")
IDP_VARS = yaml.safe_load((REPO / "molecule/course/molecule.yml").read_text())[
    "provisioner"]["inventory"]["group_vars"]["oidc_provider"]
PASSWORDS = {user["uid"]: user["password"] for user in IDP_VARS["idp_users"]}
TOKEN = re.search(r'"api_token": "([^"]+)"', HUB_VARS["hub_config_fragments"]["90-test-service"]).group(1)
PUBLIC = "https://ujh-course"  # hub_public_url: the provider sends the browser back there
IDP = IDP_VARS["idp_portal_url"].rstrip("/")
LAB_READY = ".jp-LauncherCard"
SIGN_IN = f"Sign in with {HUB_VARS['hub_oidc_login_service']}"


def service(hub_url):
    """The test-only API client (users, auth_state, servers, and the servers' own APIs)."""
    session = https_session()
    session.headers["Authorization"] = f"token {TOKEN}"
    return session


def hub_api(hub_url, method, path, **kwargs):
    return service(hub_url).request(method, f"{hub_url}/hub/api{path}", timeout=60, **kwargs)


def contents(hub_url, user, path, method="GET", **kwargs):
    """The user's server's contents API (what JupyterLab's file browser and editor use)."""
    return service(hub_url).request(method, f"{hub_url}/user/{user}/api/contents/{path}", timeout=60, **kwargs)


def save(hub_url, user, path, text):
    return contents(hub_url, user, path, "PUT", json={"type": "file", "format": "text", "content": text})


def start(hub_url, user):
    r = hub_api(hub_url, "POST", f"/users/{user}/server")
    assert r.status_code in (201, 202), (r.status_code, r.text[:300])
    wait_until(lambda: (hub_api(hub_url, "GET", f"/users/{user}").json().get("servers", {}).get("", {})
                        .get("ready")), timeout=120, what=f"{user}'s server")


def stop(hub_url, user):
    r = hub_api(hub_url, "DELETE", f"/users/{user}/server")
    assert r.status_code in (202, 204), (r.status_code, r.text[:300])
    wait_until(lambda: not hub_api(hub_url, "GET", f"/users/{user}").json().get("servers"), timeout=120,
               what=f"{user}'s server to stop")


def unit_properties(host, user, *names):
    out = host.check_output(f"systemctl show jupyter-{user}-singleuser " + " ".join(f"-p {n}" for n in names))
    return dict(line.split("=", 1) for line in out.splitlines())


@pytest.fixture(scope="module")
def browser():
    rules = ", ".join(f"MAP {name} {container_ip(name)}" for name in ("ujh-course", "ujh-course-idp"))
    with debian_chromium(f"--host-resolver-rules={rules}") as browser:
        yield browser


@pytest.fixture
def context(browser):
    with closing(browser_context(browser)) as context:
        yield context


def sign_in(context, user, password=None):
    """The hub's login page, its button, the provider's form: returns the page and when the form was sent."""
    page = context.new_page()
    page.goto(f"{PUBLIC}/hub/login")
    page.get_by_text(SIGN_IN).click()
    page.wait_for_url(re.compile(f"^{re.escape(IDP)}/"))
    page.fill("input[name=user]", user)
    page.fill("input[name=password]", password or PASSWORDS[user])
    sent = time.monotonic()
    page.locator("button[type=submit]").first.click()
    return page, sent


def lab(context, user):
    page, sent = sign_in(context, user)
    page.wait_for_selector(LAB_READY)
    ready = time.monotonic() - sent
    assert re.search(f"/user/{user}/lab", page.url), page.url
    return page, ready


def test_the_login_page_has_the_sites_announcement_template_and_logo(hub_url):
    page = https_session().get(f"{hub_url}/hub/login", timeout=30)
    assert page.status_code == 200
    assert "maintenance on <b>Friday 18:00</b>" in page.text  # hub_announcement is the site's HTML
    # hub_templates' login.html, which extends JupyterHub's (whose button names the provider).
    assert 'id="course-welcome"' in page.text and SIGN_IN in html.unescape(page.text)
    logo = https_session().get(f"{hub_url}/hub/logo", timeout=30)
    assert logo.content == (REPO / "molecule/course/files/logo.svg").read_bytes()


def test_a_member_gets_an_account_a_private_home_and_their_groups_limits(context, host, hub_url):
    page, _ready = lab(context, "dwho")
    # jupyter-resource-usage in the status bar.
    expect(page.locator('[title="Current resource usage"]')).to_contain_text("Mem:")
    user = hub_api(hub_url, "GET", "/users/dwho").json()
    assert user["groups"] == ["physics"] and not user["admin"]  # the provider's groups claim
    state = user["auth_state"]
    assert state["access_token"] and state["refresh_token"] and state["oauth_user"]["groups"] == ["physics"]
    # The tokens are in the hub's database encrypted with the crypt key, never as they are.
    for token in (state["access_token"], state["refresh_token"]):
        assert host.run(f"grep -c -F -- {token!r} {STATE}/jupyterhub.sqlite").rc == 1
    account = host.user("jupyter-dwho")
    assert account.exists and account.home == "/home/jupyter-dwho" and account.uid >= 1000
    home = host.file("/home/jupyter-dwho")
    assert (home.user, home.mode) == ("jupyter-dwho", 0o700)
    # physics: {mem_limit: 1G, cpu_limit: 2, tasks_max: 1024}; everyone else 512M, 1 CPU, 512.
    assert unit_properties(host, "dwho", "MemoryMax", "CPUQuotaPerSecUSec", "TasksMax", "User") == {
        "MemoryMax": str(1 << 30), "CPUQuotaPerSecUSec": "2s", "TasksMax": "1024", "User": str(account.uid)}
    # The announcement is on the hub's pages too.
    page.goto(f"{PUBLIC}/hub/home")
    expect(page.locator(".announcement")).to_contain_text("Friday 18:00")


def test_group_members_share_a_writable_folder_that_no_one_else_can_read(browser, host, hub_url):
    for user in ("rtyler", "msmith"):
        with closing(browser_context(browser)) as context:
            lab(context, user)
    assert unit_properties(host, "msmith", "MemoryMax", "CPUQuotaPerSecUSec", "TasksMax") == {
        "MemoryMax": str(512 << 20), "CPUQuotaPerSecUSec": "1s", "TasksMax": "512"}
    # rtyler is a teacher at the provider: an admin of the hub (hub_admin_groups).
    rtyler = hub_api(hub_url, "GET", "/users/rtyler").json()
    assert sorted(rtyler["groups"]) == ["physics", "teachers"] and rtyler["admin"]
    # dwho writes into the physics folder (~/physics), rtyler changes what dwho wrote.
    assert save(hub_url, "dwho", "physics/plan.md", "# Lab plan\n").status_code in (200, 201)
    assert save(hub_url, "rtyler", "physics/plan.md", "# Lab plan\nrtyler was here\n").status_code == 200
    assert contents(hub_url, "dwho", "physics/plan.md").json()["content"].endswith("rtyler was here\n")
    plan = host.file("/srv/groups/physics/plan.md")
    assert (plan.group, plan.mode) == ("jupyter-physics", 0o660), (plan.group, oct(plan.mode))
    # msmith (chemistry) has no such folder, and cannot read it on the host either.
    assert contents(hub_url, "msmith", "physics").status_code == 404
    denied = host.run("runuser -u jupyter-msmith -- cat /srv/groups/physics/plan.md")
    assert denied.rc != 0 and "Permission denied" in denied.stderr
    folder = host.file("/srv/groups/physics")
    assert (folder.user, folder.group, folder.mode) == ("root", "jupyter-physics", 0o2770)
    # The course's read-only material is in every home too.
    assert contents(hub_url, "msmith", "course/README.md").json()["content"].startswith("Welcome")
    assert save(hub_url, "msmith", "course/mine.md", "x").status_code >= 400


def test_users_the_provider_refuses_or_the_hub_does_not_allow_get_no_account(browser, host, hub_url):
    # davros: the provider refuses him this hub (its rule for the client).
    with closing(browser_context(browser)) as context:
        page, _ = sign_in(context, "davros")
        expect(page.locator("body")).to_contain_text(re.compile("not authorized|forbidden|refused", re.I))
        assert page.url.startswith(IDP)
    # dnoble: the provider lets her through, in none of hub_allowed_groups.
    with closing(browser_context(browser)) as context:
        page, _ = sign_in(context, "dnoble")
        expect(page.locator("body")).to_contain_text("not currently authorized to use this hub")
    for name in ("davros", "dnoble"):
        assert hub_api(hub_url, "GET", f"/users/{name}").status_code == 404
        assert not host.user(f"jupyter-{name}").exists


def test_expired_access_tokens_are_refreshed_with_the_refresh_token(context, host, hub_url):
    page, _ = sign_in(context, "rtyler")
    page.wait_for_url(re.compile(f"^{PUBLIC}/"))
    first = hub_api(hub_url, "GET", "/users/rtyler").json()["auth_state"]

    def refreshed():
        page.goto(f"{PUBLIC}/hub/home")  # a page of the user's: the hub checks their tokens
        return hub_api(hub_url, "GET", "/users/rtyler").json()["auth_state"]["access_token"] != first["access_token"]

    started = time.monotonic()
    wait_until(refreshed, timeout=120, interval=2, what="a refreshed access token")
    print(f"\n[course] access token refreshed {time.monotonic() - started:.0f} s after login "
          f"(tokens last {IDP_VARS['idp_access_token_seconds']} s, checked every {HUB_VARS['hub_oidc_refresh_seconds']} s)")
    new = hub_api(hub_url, "GET", "/users/rtyler").json()["auth_state"]["access_token"]
    userinfo = host.run(f"curl -s -H 'Authorization: Bearer {new}' {IDP}/oauth2/userinfo")
    assert json.loads(userinfo.stdout)["preferred_username"] == "rtyler", userinfo.stdout


def test_a_new_announcement_shows_without_restarting_the_hub_or_any_server(host, hub_url):
    before = (host.check_output("systemctl show -p MainPID --value jupyterhub"),
              unit_properties(host, "dwho", "InvocationID"))
    text = "Exam week: the hub is <em>read-only</em> on Monday."
    try:
        result = run_site("--tags", "hub_configure", "-e", json.dumps({"hub_announcement": text}))
        assert result.returncode == 0, result.stdout[-3000:]
        page = https_session().get(f"{hub_url}/hub/login", timeout=30).text
        assert text in page and "Friday 18:00" not in page
    finally:
        result = run_site("--tags", "hub_configure")
        assert result.returncode == 0, result.stdout[-3000:]
    assert (host.check_output("systemctl show -p MainPID --value jupyterhub"),
            unit_properties(host, "dwho", "InvocationID")) == before


def test_a_user_no_longer_allowed_loses_the_hub_at_the_next_check_of_their_tokens(context, host, hub_url):
    """oauthenticator checks who may use the hub at sign-in only; the role's class at every refresh too."""
    page, _ready = lab(context, "msmith")
    try:
        # The course ends for chemistry: the site takes the group out of hub_allowed_groups.
        result = run_site("--tags", "hub_configure", "-e", json.dumps({"hub_allowed_groups": ["physics"]}))
        assert result.returncode == 0, result.stdout[-3000:]

        def signed_out():
            page.goto(f"{PUBLIC}/hub/home")  # the first page after the hub's restart checks the tokens
            return "/hub/login" in page.url

        wait_until(signed_out, timeout=120, interval=3, what="msmith sent back to the login page")
        page.get_by_text(SIGN_IN).click()  # the provider still knows her: straight back to the hub
        expect(page.locator("body")).to_contain_text("not currently authorized to use this hub")
    finally:
        result = run_site("--tags", "hub_configure")
        assert result.returncode == 0, result.stdout[-3000:]
    assert "jupyter-msmith" in host.check_output("getent passwd jupyter-msmith")  # her account and files stay


def test_time_from_sign_in_to_jupyterlab_for_a_returning_user(browser, hub_url):
    times = []
    for _ in range(3):
        stop(hub_url, "msmith")
        with closing(browser_context(browser)) as context:
            times.append(lab(context, "msmith")[1])
    print(f"\n[course] returning user: provider's form sent -> JupyterLab ready (browser): median of 3 "
          f"{statistics.median(times):.1f} s {[round(t, 1) for t in times]}")


@pytest.mark.last  # the host restarts (and may come back at another address)
def test_a_home_lasts_across_server_stops_hub_restarts_and_host_restarts(host, hub_url):
    assert save(hub_url, "dwho", "thesis.md", "Chapter 1\n").status_code in (200, 201)
    stop(hub_url, "dwho")
    host.run_expect([0], "systemctl restart jupyterhub")
    wait_until(lambda: https_session().get(f"{hub_url}/hub/health", timeout=10).status_code == 200,
               timeout=120, what="the restarted hub")
    start(hub_url, "dwho")
    assert contents(hub_url, "dwho", "thesis.md").json()["content"] == "Chapter 1\n"

    subprocess.run(["podman", "restart", "--time", "30", "ujh-course"], check=True, timeout=180)
    url = f"https://{container_ip('ujh-course')}"
    wait_until(lambda: https_session().get(f"{url}/hub/health", timeout=10).status_code == 200,
               timeout=180, what="the hub after the host's restart")
    # The server did not survive the host; the hub notices, and starts it again on request.
    wait_until(lambda: hub_api(url, "POST", "/users/dwho/server").status_code in (201, 202), timeout=120,
               what="a new start of dwho's server")
    wait_until(lambda: hub_api(url, "GET", "/users/dwho").json()["servers"].get("", {}).get("ready"),
               timeout=120, what="dwho's server after the host's restart")
    assert contents(url, "dwho", "thesis.md").json()["content"] == "Chapter 1\n"
    assert unit_properties(host, "dwho", "MemoryMax")["MemoryMax"] == str(1 << 30)
    assert host.file("/srv/groups/physics/plan.md").content_string.endswith("rtyler was here\n")
