#!/usr/bin/python
# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""Documentation of the require action (it runs on the controller only)."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: require
short_description: Refuse a group of settings, naming only the ones that are wrong
description:
  - Runs on the controller only. Fails when the O(checks[].that) of any check is false, with the messages of
    those checks only (numbered when there are several), so that a refused value is never hidden in a
    paragraph about the valid ones, as a combined C(ansible.builtin.assert) message would be.
  - Every check is templated before the action runs, the passing ones too, so each check's O(checks[].that)
    must stand on its own (C(x is string and x is match(...))), and its O(checks[].msg) must render whatever
    the value is. Messages name the variable, its value and what would be accepted; never a secret.
  - Used by the preflight of every role of the collection.
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
options:
  checks:
    description: The checks, in the order their messages are shown.
    type: list
    elements: dict
    required: true
    suboptions:
      that:
        description: The result of the test, written as a template (C("{{ TEST }}")).
        type: bool
        required: true
      msg:
        description: What is wrong and what would be accepted, shown when O(checks[].that) is false.
        type: str
        required: true
extends_documentation_fragment:
  - unopinionated.jupyterhub.controller_action
"""

EXAMPLES = r"""
- name: Check the ports
  unopinionated.jupyterhub.require:
    checks:
      - that: "{{ proxy_http_port | int in range(1, 65536) }}"
        msg: proxy_http_port must be a port number between 1 and 65535 (now '{{ proxy_http_port }}').
      - that: "{{ proxy_http_port | int != proxy_https_port | int }}"
        msg: proxy_http_port and proxy_https_port must differ (both are {{ proxy_https_port }}).
"""

RETURN = r"""
msg:
  description: The messages of the refused checks, numbered when there are several.
  returned: failure
  type: str
"""
