# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Where a hub answers /hub/health: one rule for the hub role (filter hub_health_url) and for
hub_lifecycle, which reads it from a configuration it has put back; and one look at the hub as
users reach it, through traefik (hub_lifecycle state=probed).

Only the standard library: the hub_lifecycle action also runs this file on the host as a plain
script (``python3 -I -c``, the probe's parameters on stdin) for the probe's first attempt.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import socket
import ssl
from urllib.parse import urlsplit


def health_url(hub_bind_url, bind_url, internal_ssl=False):
    """The hub's own listener (hub_bind_url; a wildcard address is asked on loopback) with the
    path of its public URL (bind_url, base_url), then hub/health; https with internal_ssl."""
    bind = urlsplit(hub_bind_url)
    host = "127.0.0.1" if bind.hostname in ("0.0.0.0", "::") else bind.hostname
    host = "[%s]" % host if ":" in host else host
    scheme = "https" if internal_ssl else "http"
    return "%s://%s:%d%shub/health" % (scheme, host, bind.port, urlsplit(bind_url).path)


def probe(url, port, certificate=None):
    """One request for url's path through traefik on 127.0.0.1:port, with url's host as the TLS server
    name: (None, the served certificate's sha256, HTTP status) when the certificate is the one in the
    file ``certificate`` (when given and there) and the status 200; else (what is wrong, ...)."""
    parts = urlsplit(url)
    request = "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (parts.path or "/", parts.netloc)
    expected = None
    if certificate and os.path.exists(certificate):
        with open(certificate) as f:
            expected = hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # which certificate is served is checked below, by fingerprint
    served = status = None
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
                served = hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()
                tls.sendall(request.encode())
                response = b""
                while len(response) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    response += chunk
        status = int(response.split(b" ", 2)[1]) if response.startswith(b"HTTP/") else None
    except ssl.SSLError as error:
        return ("traefik completes no TLS handshake for %s (%s): is the certificate %s or its key wrong? "
                "See journalctl -u jupyterhub-proxy" % (parts.hostname, error, certificate)), served, status
    except (OSError, ValueError, IndexError) as error:
        return "no answer through traefik on port %s: %s" % (port, error), served, status
    if expected and served != expected:
        return ("traefik serves a certificate other than %s for %s (sha256 %s): is the certificate or its key "
                "wrong? See journalctl -u jupyterhub-proxy" % (certificate, parts.hostname, served)), served, status
    if status != 200:
        return ("%s answered HTTP %s through traefik: is the hub up (journalctl -u jupyterhub), and its route in "
                "traefik (journalctl -u jupyterhub-proxy)?" % (parts.path, status)), served, status
    return None, served, status


if __name__ == "__main__":
    import json
    import sys

    asked = json.load(sys.stdin)
    sys.stdout.write(json.dumps(probe(asked["url"], asked["port"], asked.get("certificate"))) + "\n")
