# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""ansible.builtin.template's lookup without its deep copy of every variable of the play."""

from __future__ import annotations

DOCUMENTATION = r"""
name: template
short_description: A template rendered with the play's variables (ansible.builtin.template's lookup, cheaper)
version_added: 0.3.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - >-
    Renders as C(lookup('ansible.builtin.template', ...)) does (the same code runs: the same search path,
    C(template_vars), C(ansible_managed) and Jinja settings), with one difference: the builtin lookup makes a
    deep copy of all the play's variables for every template it renders (about 40 ms with the collection's
    roles loaded, most of the controller's time in an idempotent converge's file tasks); this one makes a
    shallow copy, to which the template's own variables are added. So a template that changed a variable in
    place (a list's C(append)) would change it for the rest of its task (each task runs in a worker process
    of its own, whose variables no later task sees); the collection's templates change none.
  - The roles of the collection render their files with it.
options:
  _terms:
    description: The template files (found as the builtin lookup finds them, in the role's C(templates)).
    required: true
  template_vars:
    description: Variables the template sees in addition to the play's.
    type: dict
    default: {}
  variable_start_string:
    description: The string that starts a print statement.
    type: str
    default: '{{'
  variable_end_string:
    description: The string that ends a print statement.
    type: str
    default: '}}'
  comment_start_string:
    description: The string that starts a comment.
    type: str
    default: '{#'
  comment_end_string:
    description: The string that ends a comment.
    type: str
    default: '#}'
  trim_blocks:
    description: Whether the first newline after a block tag is removed (read by ansible-core 2.19 and later).
    type: bool
    default: true
  convert_data:
    description: Read by ansible-core before 2.19 only (whether YAML in the result becomes data); as the builtin lookup.
    type: bool
    default: true
  jinja2_native:
    description: Read by ansible-core before 2.19 only (Jinja2 native types); as the builtin lookup.
    type: bool
    default: false
"""

EXAMPLES = r"""
content: "{{ lookup('unopinionated.jupyterhub.template', 'traefik.toml.j2', template_vars={'__proxy_tier': 'recent'}) }}"
"""

RETURN = r"""
_raw:
  description: The rendered text of each template.
  type: list
  elements: str
"""

from ansible.plugins.lookup.template import LookupModule as BuiltinTemplateLookup


class CopiedShallow(dict):
    """The play's variables, for the builtin lookup: its copy.deepcopy of them makes a shallow copy
    (a dict, which the lookup then adds the template's own variables to)."""

    def __deepcopy__(self, memo):
        return dict(self)


class LookupModule(BuiltinTemplateLookup):
    def run(self, terms, variables=None, **kwargs):
        return super().run(terms, variables=CopiedShallow(variables or {}), **kwargs)
