"""The ephemeral login's throttle and client address (unopinionated_jupyterhub_auth.py,
unopinionated_jupyterhub_proxy.client_address). The molecule ephemeral scenario
attacks the same through a real hub: X-Real-Ip forged from the host locks nobody out."""

import asyncio
import threading

import pytest
import requests
from tornado import httpserver, web
from tornado.ioloop import IOLoop

from unopinionated_jupyterhub_auth import FailureThrottle, address_key
from unopinionated_jupyterhub_proxy import ORIGIN_HEADER, client_address


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_an_address_is_throttled_after_max_failures_for_the_rest_of_the_window():
    clock = Clock()
    throttle = FailureThrottle(max_failures=3, window=60, budget=100, clock=clock)
    for _attempt in range(2):
        throttle.failed("198.51.100.7")
        clock.now += 1
    assert throttle.retry_after("198.51.100.7") == 0
    throttle.failed("198.51.100.7")
    assert throttle.retry_after("198.51.100.7") == pytest.approx(58)  # the first failure ages out then
    assert throttle.retry_after("198.51.100.8") == 0  # another address is not affected
    clock.now += 58
    assert throttle.retry_after("198.51.100.7") == 0
    throttle.succeeded("198.51.100.7")
    assert throttle.tracked() == 0


def test_ipv6_counts_per_64_and_ipv4_mapped_as_ipv4():
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert address_key("not an address") == "not an address"
    throttle = FailureThrottle(max_failures=2, window=60, budget=100, clock=Clock())
    throttle.failed("2001:db8:1:2::1")
    throttle.failed("2001:db8:1:2::2")  # a host rotating through its /64
    assert throttle.retry_after("2001:db8:1:2::3") > 0


def test_the_budget_throttles_every_address_when_many_addresses_guess():
    clock = Clock()
    throttle = FailureThrottle(max_failures=5, window=60, budget=10, clock=clock)
    for n in range(10):
        throttle.failed(f"203.0.113.{n}")
    assert throttle.retry_after("192.0.2.1") == pytest.approx(60)
    clock.now += 60
    assert throttle.retry_after("192.0.2.1") == 0


def test_memory_is_bounded_and_old_entries_are_forgotten():
    clock = Clock()
    throttle = FailureThrottle(max_failures=3, window=60, budget=10**9, max_tracked=1000, clock=clock)
    for n in range(5000):
        throttle.failed(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
        throttle.failed(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
    assert throttle.tracked() == 1000  # the least recently failing went first
    assert all(len(times) <= 3 for times in throttle._by_key.values())
    clock.now += 61
    throttle.retry_after("192.0.2.1")
    assert throttle.tracked() == 0


class Origin:
    origin_token = "t" * 64


@pytest.fixture(scope="module")
def echo_server():
    """A real tornado server with JupyterHub's xheaders=True, answering client_address."""

    class Handler(web.RequestHandler):
        def get(self):
            self.write(client_address(self.request, self.settings.get("proxy")))

    started, holder = threading.Event(), {}

    def run():
        asyncio.set_event_loop(asyncio.new_event_loop())
        server = httpserver.HTTPServer(web.Application([("/", Handler)], proxy=Origin()), xheaders=True)
        server.listen(0, "127.0.0.1")
        holder["port"] = next(iter(server._sockets.values())).getsockname()[1]
        holder["loop"] = IOLoop.current()
        started.set()
        holder["loop"].start()

    threading.Thread(target=run, daemon=True).start()
    started.wait(10)
    yield f"http://127.0.0.1:{holder['port']}/"
    holder["loop"].add_callback(holder["loop"].stop)


def test_x_real_ip_counts_only_with_the_proxys_origin_header(echo_server):
    forged = {"X-Real-Ip": "203.0.113.9", "X-Forwarded-For": "203.0.113.9"}
    assert requests.get(echo_server, headers=forged, timeout=5).text == "127.0.0.1"
    wrong = dict(forged, **{ORIGIN_HEADER: "x" * 64})
    assert requests.get(echo_server, headers=wrong, timeout=5).text == "127.0.0.1"
    vouched = dict(forged, **{ORIGIN_HEADER: Origin.origin_token})
    assert requests.get(echo_server, headers=vouched, timeout=5).text == "203.0.113.9"
