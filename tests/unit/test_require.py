"""The require action (plugins/action/require.py): a refused group of settings names only
the settings that are wrong, through a real ansible-playbook run."""

import textwrap

import pytest
from ansible.errors import AnsibleActionFail

from conftest import run_playbook

from ansible_collections.unopinionated.jupyterhub.plugins.action.require import refused

PLAY = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - unopinionated.jupyterhub.require:
        checks:
          - that: "{{ hub_bind_url is match('^http://[^/]+:[0-9]+/?$') }}"
            msg: >-
              hub_bind_url must look like http://ADDRESS:PORT
              (now '{{ hub_bind_url }}').
          - that: "{{ hub_public_url is match('^https?://[^/]+(/[^/]+)*/$') }}"
            msg: hub_public_url must be an http(s) URL ending in '/' (now '{{ hub_public_url }}').
          - that: "{{ port | int in range(1, 65536) }}"
            msg: port must be between 1 and 65535 (now '{{ port }}').
"""


def run(tmp_path, **values):
    playbook = tmp_path / "play.yml"
    playbook.write_text(PLAY)
    variables = {"hub_bind_url": "http://127.0.0.1:8081", "hub_public_url": "https://hub.example.org/", "port": 1}
    variables.update(values)
    args = [arg for name, value in variables.items() for arg in ("-e", f"{name}={value}")]
    result = run_playbook(playbook, *args)
    return result.returncode, result.stdout + result.stderr


def test_only_the_refused_setting_is_named(tmp_path):
    code, output = run(tmp_path, hub_public_url="probe-hub/")
    assert code == 2, output[-3000:]
    assert "hub_public_url must be an http(s) URL ending in '/' (now 'probe-hub/')." in output, output[-3000:]
    assert "hub_bind_url" not in output and "port must" not in output, output[-3000:]


def test_several_refused_settings_are_numbered_in_order(tmp_path):
    code, output = run(tmp_path, hub_public_url="https://hub.example.org//", port=70000)
    assert code == 2, output[-3000:]
    assert ("(1) hub_public_url must be an http(s) URL ending in '/' (now 'https://hub.example.org//'). "
            "(2) port must be between 1 and 65535 (now '70000').") in output, output[-3000:]
    assert "hub_bind_url must" not in output


def test_valid_settings_pass(tmp_path):
    code, output = run(tmp_path)
    assert code == 0, output[-3000:]


def test_a_message_is_one_line_and_a_check_must_be_a_boolean():
    assert refused([{"that": False, "msg": "a\n  b\n"}, {"that": "True", "msg": "c"}]) == ["a b"]
    assert refused([{"that": "False", "msg": "x"}]) == ["x"]  # ansible-core < 2.19 templates to text
    for checks in ([], None, [{"that": True}], [{"that": True, "msg": "m", "when": 1}], [{"that": "maybe", "msg": "m"}]):
        with pytest.raises(AnsibleActionFail):
            refused(checks)


def test_a_check_written_without_a_template_is_refused(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - unopinionated.jupyterhub.require:
                checks:
                  - that: 1 == 2
                    msg: never shown
        """))
    result = run_playbook(playbook)
    assert result.returncode == 2
    assert "require: check 1 has that='1 == 2', not a boolean" in result.stdout, result.stdout[-3000:]
