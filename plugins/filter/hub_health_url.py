# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Where the hub answers /hub/health: the hub role's waits ask it (vars __hub_health_url)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: hub_health_url
short_description: The URL of a hub's /hub/health on its own listener
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - >-
    The hub's own listener (O(_input), the role's hub_bind_url; a wildcard address is asked on loopback, an IPv6
    address in brackets) with the path of its public URL, then C(hub/health). The hub_lifecycle module uses the
    same rule on a configuration it has put back, so that the waits after a roll back ask the hub that runs.
options:
  _input:
    description: The hub's listener, C(http://ADDRESS:PORT).
    type: str
    required: true
  public_url:
    description: The hub's public URL (hub_public_url); its path is JupyterHub's base_url.
    type: str
    required: true
  internal_ssl:
    description: Whether the hub runs with JupyterHub's internal_ssl (hub_internal_ssl); its listener then speaks TLS.
    type: bool
    default: false
"""

EXAMPLES = r"""
health: "{{ 'http://0.0.0.0:8081' | unopinionated.jupyterhub.hub_health_url('https://hub.example.org/course/') }}"
# http://127.0.0.1:8081/course/hub/health
"""

RETURN = r"""
_value:
  description: The URL.
  type: str
"""

from ansible_collections.unopinionated.jupyterhub.plugins.module_utils.hub_health import health_url


def hub_health_url(hub_bind_url, public_url, internal_ssl=False):
    return health_url(str(hub_bind_url), str(public_url), bool(internal_ssl))


class FilterModule:
    def filters(self):
        return {"hub_health_url": hub_health_url}
