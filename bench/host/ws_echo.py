"""Websocket round trips through a proxy, on the test host (the hub env's tornado).

  ws_echo.py serve PORT          an echo server on 127.0.0.1:PORT (any path)
  ws_echo.py run URL SECONDS N   N connections to URL, each sending a 1 KiB message and
                                 waiting for its echo, again and again for SECONDS;
                                 prints JSON: messages/s and round-trip p50/p99 (ms)

The client is Python on the same 2 cores as the proxy: it is the ceiling of what it can
measure, and the same for every proxy it is pointed at.
"""

import asyncio
import json
import statistics
import sys
import time

from tornado import httpclient, web, websocket


class Echo(websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


async def serve(port):
    web.Application([(r"/.*", Echo)]).listen(port, address="127.0.0.1")
    await asyncio.Event().wait()


async def one(url, until, times):
    request = httpclient.HTTPRequest(url, validate_cert=False)
    conn = await websocket.websocket_connect(request)
    payload = b"x" * 1024
    while time.monotonic() < until:
        started = time.perf_counter()
        await conn.write_message(payload, binary=True)
        if await conn.read_message() != payload:
            raise SystemExit(f"{url}: echo lost or changed")
        times.append(time.perf_counter() - started)
    conn.close()


async def run(url, seconds, connections):
    times = []
    started = time.monotonic()
    await asyncio.gather(*(one(url, started + seconds, times) for _ in range(connections)))
    took = time.monotonic() - started
    times.sort()
    print(json.dumps({"msg_per_s": round(len(times) / took), "p50_ms": round(1000 * statistics.median(times), 2),
                      "p99_ms": round(1000 * times[int(0.99 * (len(times) - 1))], 2)}))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        asyncio.run(serve(int(sys.argv[2])))
    else:
        asyncio.run(run(sys.argv[2], float(sys.argv[3]), int(sys.argv[4])))
