#!/usr/bin/python
# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Documentation of the check_variables action (it runs on the controller only)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: check_variables
short_description: Warn about variables named like the collection's that none of its roles reads
description:
  - Runs on the controller only. For every name in O(names) that is not in O(known), warns, naming the
    nearest known variable when one is close (C(hub_publc_url) -> C(hub_public_url)).
  - Used by every role's preflight with the names of all variables starting C(hub_), C(proxy_),
    C(culler_), C(slurm_spawner_), C(systemd_spawner_) or C(jupyterhub_), against the options of the
    collection's C(meta/argument_specs.yml).
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
options:
  names:
    description: The variables the site set.
    type: list
    elements: str
    required: true
  known:
    description:
      - The variables the collection reads. When omitted, every option of the collection's roles'
        C(meta/argument_specs.yml), read by the action on the controller.
    type: list
    elements: str
extends_documentation_fragment:
  - unopinionated.jupyterhub.controller_action
"""

EXAMPLES = r"""
- name: Warn about typos in the collection's variables
  unopinionated.jupyterhub.check_variables:
    names: "{{ query('ansible.builtin.varnames', '^(hub|proxy)_') }}"

- name: The same against a list of one's own
  unopinionated.jupyterhub.check_variables:
    names: "{{ query('ansible.builtin.varnames', '^(hub|proxy)_') }}"
    known: [hub_public_url, proxy_https_port]
"""

RETURN = r"""
unknown:
  description: The names in O(names) that are not in O(known).
  returned: always
  type: list
  elements: str
"""
