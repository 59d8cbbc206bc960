"""HTTPS against a real ACME server (Debian's pebble on ujh-pebble), the TLS policy
as testssl.sh sees it from outside, and the hub's and traefik's metrics.

The tests run in file order: the ACME ones change the host's TLS mode and end
with it converged to the scenario's own settings (acme, HTTP-01) again.
"""

import json
import re

import pytest
import testinfra

from ujh_testlib import STATE, api, converge, login, wait_until

NAME = "hub.ujh.test"
ROOT = "/root/pebble-root.pem"  # pebble's issuing root, fetched by the client host


@pytest.fixture(scope="module")
def client():
    """The ACME server's host: the outside client, with names for the hub and pebble."""
    return testinfra.get_host("podman://ujh-pebble")


def served_certificate(client, servername=NAME):
    """(issuer, subject, serial) of the certificate traefik serves; servername None: no SNI."""
    sni = f"-servername {servername}" if servername else "-noservername"
    out = client.check_output(
        f"openssl s_client -connect {NAME}:443 {sni} </dev/null 2>/dev/null"
        " | openssl x509 -noout -issuer -subject -serial")
    return tuple(line.split("=", 1)[1].strip() for line in out.splitlines())


def pebble_root(client):
    """pebble makes its issuing root at each start; get the current one."""
    client.check_output(f"curl -sf --cacert /etc/pebble/ca.pem -o {ROOT} https://pebble.ujh.test:15000/roots/0")
    return ROOT


def validates(client):
    """The hub answers over HTTPS with a certificate that validates against pebble's root."""
    return client.run(f"curl -sf --cacert {ROOT} https://{NAME}/hub/health").rc == 0


def pebble_log(client):
    return client.check_output("journalctl -q -o cat -u pebble.service")


def solved(host, kind):
    """How often traefik (lego) has had pebble validate a challenge of this kind.

    pebble does not log the type of the challenge it validated, traefik does: its
    solver's type, then "The server validated our request".
    """
    log = host.check_output("journalctl -q -o cat -u jupyterhub-proxy.service")
    return len(re.findall(rf"Use solver\..*type={kind}\b(?:.*\n)*?.*The server validated our request", log))


def issued(client):
    """How many certificates pebble has issued since it started."""
    return len(re.findall(r"Issued certificate serial", pebble_log(client)))


def test_traefik_gets_its_certificate_from_pebble_over_http01(client, host):
    pebble_root(client)
    wait_until(lambda: validates(client), timeout=120, what=f"{NAME} to serve a certificate from pebble")
    issuer, subject, _serial = served_certificate(client)
    print(f"\n[acme] http-01: issuer {issuer!r}, subject {subject!r}; pebble issued {issued(client)}")
    assert "Pebble" in issuer
    assert issued(client) >= 1, pebble_log(client)[-3000:]
    assert solved(host, "http-01") >= 1 and solved(host, "tls-alpn-01") == 0
    # No server name (clients that connect by address): the same certificate, not traefik's own.
    assert served_certificate(client, None)[0] == issuer


def test_a_proxy_restart_orders_nothing(client, host):
    before, orders = served_certificate(client), issued(client)
    host.check_output("systemctl restart jupyterhub-proxy.service")
    wait_until(lambda: validates(client), timeout=60, what="traefik to serve again after its restart")
    assert served_certificate(client) == before
    assert issued(client) == orders, "traefik ordered a new certificate after a restart"


def test_hsts_no_banner_and_no_alias_headers(client, host):
    headers = client.check_output(f"curl -sS -o /dev/null -D - --cacert {ROOT} https://{NAME}/hub/login").lower()
    assert "strict-transport-security: max-age=31536000" in headers, headers
    assert "\nserver:" not in headers, headers  # no TornadoServer/6.x banner
    since = host.check_output("date +%s")
    host.check_output("systemctl restart jupyterhub-proxy.service")
    wait_until(lambda: validates(client), timeout=60, what="traefik to serve again")
    log = host.check_output(f"journalctl -q -o cat -u jupyterhub-proxy.service --since @{since}")
    assert "aliasHeadersStrategy is not configured" not in log, log[-2000:]


# Properties of pebble's test certificates, not of the proxy: they carry neither
# a CRL nor an OCSP URL (pebble runs without a responder here).
TEST_CA_FINDINGS = {"cert_revocation"}


def test_testssl_finds_nothing_high_no_cbc_and_no_old_protocols(client):
    # The chain is checked against pebble's root (--add-ca): trust is tested too.
    client.run("rm -f /root/testssl.json")
    result = client.run(
        f"testssl --quiet --color 0 --warnings off --add-ca {ROOT} --jsonfile /root/testssl.json"
        f" --protocols --cipher-per-proto --server-defaults --headers --vulnerable {NAME}:443")
    assert client.file("/root/testssl.json").exists, result.stdout[-3000:]
    findings = json.loads(client.file("/root/testssl.json").content_string)
    by_id = {f["id"]: f for f in findings}
    severe = [f for f in findings if f["severity"] in ("HIGH", "CRITICAL") and f["id"] not in TEST_CA_FINDINGS]
    tls12 = [f["finding"].split()[-1] for f in findings if f["id"].startswith("cipher-tls1_2_")]
    print(f"\n[testssl] exit {result.rc}, {len(findings)} findings: "
          + ", ".join(f"{s} {sum(f['severity'] == s for f in findings)}"
                      for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")))
    for f in findings:
        if f["severity"] in ("CRITICAL", "HIGH", "MEDIUM", "LOW"):
            print(f"[testssl] {f['severity']:<8} {f['id']}: {f['finding'][:100]}")
    print("[testssl] TLS 1.2 suites:", ", ".join(tls12))
    assert not severe, severe
    for protocol in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert by_id[protocol]["finding"] == "not offered", by_id[protocol]
    assert by_id["TLS1_2"]["finding"] == "offered" and by_id["TLS1_3"]["finding"].startswith("offered")
    assert tls12 and not [suite for suite in tls12 if "CBC" in suite], tls12
    assert by_id["HSTS_time"]["severity"] == "OK", by_id["HSTS_time"]
    assert by_id["LUCKY13"]["severity"] == "OK", by_id["LUCKY13"]
    assert by_id["cert_chain_of_trust"]["severity"] == "OK", by_id["cert_chain_of_trust"]


def test_tls_alpn01_orders_with_its_own_resolver(client, host):
    before, orders = served_certificate(client), issued(client)
    converge("-e", "proxy_acme_challenge=tls-alpn-01")
    wait_until(lambda: served_certificate(client)[2] != before[2] and validates(client), timeout=120,
               what="a certificate ordered over tls-alpn-01")
    assert issued(client) == orders + 1
    assert solved(host, "tls-alpn-01") == 1


def test_self_signed_and_back_to_acme_without_a_new_order(client):
    converge("-e", "proxy_tls_mode=self_signed")
    issuer, subject, _ = wait_until(lambda: (c := served_certificate(client)) and "Pebble" not in c[0] and c,
                                    timeout=60, what="the self-signed certificate")
    assert issuer == subject == f"CN = {NAME}"  # named after hub_public_url's host
    headers = client.check_output(f"curl -skS -o /dev/null -D - https://{NAME}/hub/login").lower()
    assert "strict-transport-security" not in headers  # never HSTS for a self-signed certificate
    orders = issued(client)
    result = converge()  # the scenario's own settings: acme over http-01
    assert "Restart jupyterhub-proxy" in result.stdout
    wait_until(lambda: validates(client), timeout=60, what="the stored ACME certificate again")
    assert "Pebble" in served_certificate(client)[0]
    assert issued(client) == orders, "going back to acme ordered again instead of using the stored certificate"


def test_hub_metrics_need_the_metrics_token(host, hub_url):
    token = host.check_output(f"cat {STATE}/metrics_api_token")
    session = login(hub_url, "metrics-visitor")
    r = session.get(f"{hub_url}/hub/metrics", headers={"Authorization": f"token {token}"}, timeout=30)
    assert r.status_code == 200 and "jupyterhub_" in r.text, (r.status_code, r.text[:300])
    session.cookies.clear()
    assert session.get(f"{hub_url}/hub/metrics", timeout=30).status_code == 403
    # A user's own token does not carry read:metrics.
    user_token = api(login(hub_url, "metrics-visitor"), hub_url, "POST", "/users/metrics-visitor/tokens",
                     json={"note": "no metrics"}).json()["token"]
    r = session.get(f"{hub_url}/hub/metrics", headers={"Authorization": f"token {user_token}"}, timeout=30)
    assert r.status_code == 403, r.status_code


def test_traefik_metrics_on_loopback_only(host, client):
    assert "traefik_" in host.check_output("curl -sf http://127.0.0.1:9180/metrics")
    assert client.run(f"curl -sf --max-time 5 http://{NAME}:9180/metrics").rc != 0
