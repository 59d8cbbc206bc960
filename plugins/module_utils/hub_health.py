# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Where a hub answers /hub/health: one rule for the hub role (filter hub_health_url) and for
hub_lifecycle, which reads it from a configuration it has put back."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from urllib.parse import urlsplit


def health_url(hub_bind_url, bind_url, internal_ssl=False):
    """The hub's own listener (hub_bind_url; a wildcard address is asked on loopback) with the
    path of its public URL (bind_url, base_url), then hub/health; https with internal_ssl."""
    bind = urlsplit(hub_bind_url)
    host = "127.0.0.1" if bind.hostname in ("0.0.0.0", "::") else bind.hostname
    host = "[%s]" % host if ":" in host else host
    scheme = "https" if internal_ssl else "http"
    return "%s://%s:%d%shub/health" % (scheme, host, bind.port, urlsplit(bind_url).path)
