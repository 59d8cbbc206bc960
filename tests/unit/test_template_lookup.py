"""plugins/lookup/template.py renders what ansible.builtin.template's lookup renders (it runs that code,
with a shallow copy of the play's variables for the builtin's deep one)."""

import copy
import json
import sys

from conftest import run_playbook

from ansible_collections.unopinionated.jupyterhub.plugins.lookup.template import CopiedShallow

TEMPLATE = r"""# {{ ansible_managed }} ({{ template_path | basename }})
name = {{ name | to_json }}
regex = "{{ '^/user/[^/]+/(.*)$' | regex_replace('\\\\', '\\\\\\\\') }}"
escaped = "{{ 'a\nb' }}" and "a\tb" literally \n
{% for item in items %}{{ loop.index }}: {{ item }}
{% endfor %}
{% include 'part.j2' %}
tier = {{ tier | default('main') }}
{# a comment #}
{%- if flag %}flag on{% endif %}
"""


def test_the_copy_it_hands_the_builtin_lookup_is_shallow_and_a_plain_dict():
    nested = {"list": [1, 2]}
    copied = copy.deepcopy(CopiedShallow({"a": nested}))
    assert copied.__class__ is dict and copied["a"] is nested  # a plain dict, not the wrapper
    copied["b"] = 1  # the builtin adds the template's own variables to its copy
    assert "b" not in CopiedShallow({"a": nested})


def test_it_renders_what_the_builtin_lookup_renders(tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "t.j2").write_text(TEMPLATE)
    (templates / "part.j2").write_text("part of {{ name }}\n")
    tasks, outputs = [], {}
    for lookup in ("ansible.builtin.template", "unopinionated.jupyterhub.template"):
        for tier in ("", "recent"):
            key = f"{lookup}-{tier}"
            outputs[key] = tmp_path / f"{key}.json"
            template_vars = f", template_vars={{'tier': '{tier}'}}" if tier else ""
            tasks.append({"ansible.builtin.copy": {"content": f"{{{{ lookup('{lookup}', 't.j2'{template_vars}) | to_json }}}}",
                                                   "dest": str(outputs[key]), "mode": "0600"}})
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": tasks,
             "vars": {"name": ['q"uote', "b\\ack", "100%", "new\nline"], "items": ["x{{ 1 }}", "%41", "`id`"], "flag": True}}]
    (tmp_path / "play.yml").write_text(json.dumps(play))  # JSON is YAML
    result = run_playbook(tmp_path / "play.yml", "-i", "localhost,", "-c", "local",
                          "-e", f"ansible_python_interpreter={sys.executable}")
    assert result.returncode == 0, result.stdout[-3000:]
    rendered = {key: json.loads(path.read_text()) for key, path in outputs.items()}
    assert rendered["unopinionated.jupyterhub.template-"] == rendered["ansible.builtin.template-"]
    assert rendered["unopinionated.jupyterhub.template-recent"] == rendered["ansible.builtin.template-recent"]
    assert "tier = recent" in rendered["unopinionated.jupyterhub.template-recent"]
    assert "part of " in rendered["unopinionated.jupyterhub.template-"] and "3: `id`" in rendered["ansible.builtin.template-"]
