"""Helpers of the ephemeral scenario: visitors, the test-only API client, units."""

import json
import re
import shlex
import time

from ujh_testlib import BASE, api, browser_context, https_session, scenario_group_vars, start_server, wait_until

GROUP_VARS = scenario_group_vars("ephemeral")
PASSWORD = GROUP_VARS["systemd_spawner_shared_password"]
TOKEN = re.search(r'"api_token": "([^"]+)"', GROUP_VARS["hub_config_fragments"]["90-test-service"]).group(1)
WINDOW = GROUP_VARS["systemd_spawner_login_failure_window"]
MAX_FAILURES = GROUP_VARS["systemd_spawner_login_max_failures"]
USER_ENV = f"{BASE}/user-env"
DYNAMIC_UIDS = range(61184, 65520)  # systemd's DynamicUser= range
LAB_READY = ".jp-LauncherCard"  # the launcher lists the kernels: JupyterLab and its server answer


def service(hub_url):
    """The test-only API client (list users, start and stop servers)."""
    s = https_session()
    s.headers["Authorization"] = f"token {TOKEN}"
    return s


def fresh_login_window(hub_url):
    """Wait until this address may log in (a right password also resets its count)."""
    wait_until(lambda: visit(hub_url)[1].status_code == 302, timeout=WINDOW + 30,
               what="a fresh login window")


def hub_users(hub_url):
    r = service(hub_url).get(f"{hub_url}/hub/api/users", timeout=30)
    r.raise_for_status()
    return {u["name"]: u for u in r.json()}


def visit(hub_url, password=PASSWORD):
    """A visitor submits the login form: returns the session and the POST's response."""
    s = https_session()
    s.get(f"{hub_url}/hub/login", timeout=30).raise_for_status()
    xsrf = next((c.value for c in s.cookies if c.name == "_xsrf"), "")
    r = s.post(f"{hub_url}/hub/login", data={"password": password, "_xsrf": xsrf},
               allow_redirects=False, timeout=60)
    return s, r


# A login form posted from the test host itself, COUNT times: as the local account USER
# (None: root), to URL (https://127.0.0.1 through traefik, or http://127.0.0.1:8081 straight
# to the hub, as a user's server could), with HEADERS on both requests: JupyterHub ties the
# anonymous XSRF token to the client's address, which tornado reads from X-Real-Ip.
_HOST_LOGIN = """
import http.cookiejar, json, ssl, sys, urllib.error, urllib.parse, urllib.request
url, password, count, headers = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
for attempt in range(count):
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPSHandler(context=ctx), NoRedirect,
                                     urllib.request.HTTPCookieProcessor(jar), urllib.request.ProxyHandler({}))
    op.open(urllib.request.Request(url + "/hub/login", headers=headers)).read()
    xsrf = next(c.value for c in jar if c.name == "_xsrf")
    data = urllib.parse.urlencode({"password": password, "_xsrf": xsrf}).encode()
    # The hub's cookies are Secure: over plain HTTP the client sends the XSRF one itself.
    request = urllib.request.Request(url + "/hub/login", data, headers=dict(headers, Cookie="_xsrf=" + xsrf))
    try:
        print(op.open(request).status)
    except urllib.error.HTTPError as e:
        print(e.code)
"""


def logins_from_the_host(host, url, password, count=1, headers=None, user=None):
    """HTTP codes of COUNT logins posted on the test host (see _HOST_LOGIN)."""
    as_user = f"runuser -u {user} -- " if user else ""
    args = " ".join(shlex.quote(a) for a in (url, password, str(count), json.dumps(headers or {})))
    result = host.run(f"{as_user}python3 - {args} <<'EOF'{_HOST_LOGIN}EOF")
    assert result.rc == 0, result.stdout + result.stderr
    return result.stdout.split()


def visitor_with_server(hub_url, timeout=180):
    """A visitor who logged in and whose server is ready: (session, user name, API token)."""
    s, r = visit(hub_url)
    assert r.status_code == 302, f"login failed: {r.status_code} {r.text[:300]}"
    name = api(s, hub_url, "GET", "/user").json()["name"]
    start_server(s, hub_url, name, timeout=timeout)
    r = api(s, hub_url, "POST", f"/users/{name}/tokens", json={"note": "molecule test"})
    assert r.status_code in (200, 201), r.text
    return s, name, r.json()["token"]


def user_of(page):
    """The user whose server a browser page shows."""
    return re.search(r"/user/([^/]+)/", page.url).group(1)


def seconds_to_jupyterlab(browser, hub_url, timeout_ms=180_000, prepare=None):
    """A visitor in a fresh browser context: password submitted -> JupyterLab's launcher drawn.

    Returns (seconds, user name, seconds until the browser was at the user's JupyterLab page,
    i.e. before JupyterLab loaded in it); browser is a Playwright browser (Debian's chromium).
    prepare(context, page), if given, is called before the page is opened (bench/: a link's speed).
    """
    context = browser_context(browser, timeout_ms)
    try:
        page = context.new_page()
        if prepare:
            prepare(context, page)
        page.goto(f"{hub_url}/hub/login")
        page.fill("#password_input", PASSWORD)
        started = time.monotonic()
        page.click("#login_submit")
        page.wait_for_url(re.compile(r"/user/[^/]+/lab"), wait_until="commit")
        at_lab = time.monotonic() - started
        page.wait_for_selector(LAB_READY)
        return time.monotonic() - started, user_of(page), at_lab
    finally:
        context.close()


def unit(name):
    return f"jupyter-{name}-singleuser.service"


def stop_server(host, hub_url, name, timeout=120):
    r = service(hub_url).delete(f"{hub_url}/hub/api/users/{name}/server", timeout=60)
    assert r.status_code in (202, 204), r.text
    wait_until(lambda: not hub_users(hub_url)[name]["servers"], timeout=timeout,
               what=f"{name}'s server to stop")
    # "deactivating" is not stopped yet: ExecStopPost (removing the home) still runs.
    wait_until(lambda: host.run(f"systemctl is-active {unit(name)}").stdout.strip() in ("inactive", "failed"),
               timeout=timeout, what=f"{unit(name)} to stop")


def access_code(reads=(), writes=()):
    """Kernel code that tries each access and prints JSON {path: outcome}.

    The outcome is "read" or "written", or the name of the error (e.g. PermissionError).
    """
    attempts = [(p, "r") for p in reads] + [(p, "w") for p in writes]
    return (
        "import json, os\n"
        "result = {}\n"
        f"for path, mode in {attempts!r}:\n"
        "    try:\n"
        "        with open(os.path.expanduser(path), mode) as f:\n"
        "            f.write('x') if mode == 'w' else f.read()\n"
        "        result[path] = 'written' if mode == 'w' else 'read'\n"
        "    except OSError as e:\n"
        "        result[path] = type(e).__name__\n"
        "print(json.dumps(result))\n"
    )


def ip_firewall_enforced(host):
    """Whether this host's kernel enforces systemd's IPAddressDeny= (a cgroup BPF program).

    A unit denied every address sends one UDP datagram: EPERM when the firewall works.
    """
    send = "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('192.0.2.1', 9))"
    r = host.run(f'systemd-run --quiet --wait --pipe --collect -p IPAddressDeny=any -p DynamicUser=yes python3 -c "{send}"')
    return r.rc != 0 and "PermissionError" in r.stdout + r.stderr


def network_code(udp=(), tcp=()):
    """Kernel code that tries each address and prints JSON {address: outcome}.

    UDP: one datagram to port 80 ("sent" or the error's name); TCP: a connection with a
    3 s timeout ("connected" or the error's name, TimeoutError when packets are dropped).
    """
    return (
        "import json, socket\n"
        "result = {}\n"
        f"for addr in {list(udp)!r}:\n"
        "    try:\n"
        "        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', (addr, 80))\n"
        "        result['udp ' + addr] = 'sent'\n"
        "    except OSError as e:\n"
        "        result['udp ' + addr] = type(e).__name__\n"
        f"for addr, port in {list(tcp)!r}:\n"
        "    s = socket.socket(); s.settimeout(3)\n"
        "    try:\n"
        "        s.connect((addr, port))\n"
        "        result[f'tcp {addr}:{port}'] = 'connected'\n"
        "    except OSError as e:\n"
        "        result[f'tcp {addr}:{port}'] = type(e).__name__\n"
        "    finally:\n"
        "        s.close()\n"
        "print(json.dumps(result))\n"
    )
