# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""hub_config_fragments as the hub role's contributions: their text read or rendered on the controller."""

from __future__ import annotations

DOCUMENTATION = r"""
name: hub_site_fragments
short_description: The site's configuration fragments (hub_config_fragments) as the hub role's contributions
version_added: 0.2.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - >-
    Used by the C(hub) role (C(tasks/configure.yml)). One contribution of kind C(fragment) per entry of
    hub_config_fragments, in its order: path C(CONFIG_DIR/NAME.py) (a trailing C(.py) of NAME is not
    doubled); content the entry's text, or the file of C({src: FILE}) as it is, or the file of
    C({template: FILE}) rendered with the play's variables (Ansible's file lookup; the collection's template lookup).
    Trailing whitespace is dropped and a comment naming the entry is appended, at the end, so the
    fragment's line numbers are the site's.
options:
  _terms:
    description: hub_config_fragments (one mapping).
    required: true
  files:
    description: The controller file of each file fragment (the C(hub_fragment_files) filter).
    type: dict
    required: true
  config_dir:
    description: The hub's config.d directory on the host.
    type: str
    required: true
"""

EXAMPLES = r"""
fragments: >-
  {{ query('unopinionated.jupyterhub.hub_site_fragments', hub_config_fragments,
           files=__hub_fragment_files, config_dir=__jupyterhub_config_dir) }}
"""

RETURN = r"""
_raw:
  description: One contribution per fragment, with C(kind) (C(fragment)), C(path) and C(content).
  type: list
  elements: dict
"""

import json
import re

from ansible.errors import AnsibleLookupError
from ansible.plugins.loader import lookup_loader
from ansible.plugins.lookup import LookupBase

FOOTER = ("\n# From hub_config_fragments[%s] (unopinionated.jupyterhub); managed by Ansible, changes here are"
          " overwritten. At the end, so line numbers are the site's.\n")


def fragment_path(config_dir, name):
    return "%s/%s.py" % (config_dir, re.sub(r"\.py$", "", name))


def fragment_content(name, text):
    return re.sub(r"\s+$", "", text) + FOOTER % json.dumps(name)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        files, config_dir = self.get_option("files"), self.get_option("config_dir")
        fragments = {}
        for term in terms:
            if not isinstance(term, dict):
                raise AnsibleLookupError("hub_site_fragments takes hub_config_fragments, a mapping")
            fragments.update(term)
        entries = []
        for name, value in fragments.items():
            if isinstance(value, str):
                text = value
            else:
                how = "ansible.builtin.file" if "src" in value else "unopinionated.jupyterhub.template"
                reader = lookup_loader.get(how, loader=self._loader, templar=self._templar)
                text = reader.run([files[name]], variables)[0]
            entries.append({"kind": "fragment", "path": fragment_path(config_dir, name),
                            "content": fragment_content(name, text)})
        return entries
