"""The check_variables action: typos in the site's variables, against the collection's specs."""

import textwrap

from conftest import run_playbook
from ansible_collections.unopinionated.jupyterhub.plugins.action.check_variables import collection_variables


def test_the_known_variables_are_every_roles_argument_spec_options():
    known = collection_variables()
    assert {"hub_public_url", "proxy_https_port", "culler_timeout", "slurm_spawner_profiles",
            "systemd_spawner_mem_limit", "jupyterhub_base_dir"} <= known
    assert "__jupyterhub_venv" in known  # an internal entry point's parameter, never warned about


def test_a_role_without_a_spec_adds_nothing(tmp_path):
    (tmp_path / "a" / "meta").mkdir(parents=True)
    (tmp_path / "a" / "meta" / "argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n      a_one: {type: str}\n  other: {}\n")
    (tmp_path / "b").mkdir()
    assert collection_variables(str(tmp_path)) == {"a_one"}


def test_a_typo_is_warned_about_with_the_nearest_name(tmp_path):
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - unopinionated.jupyterhub.check_variables:
                names: "{{ query('ansible.builtin.varnames', '^(hub|proxy)_') }}"
              register: checked
            - ansible.builtin.assert:
                that: checked.unknown == ['hub_publc_url', 'proxy_own_thing']
        """))
    result = run_playbook(playbook, "-e", "hub_publc_url=x", "-e", "proxy_own_thing=1", "-e", "hub_public_url=y")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "hub_publc_url is set but no role of unopinionated.jupyterhub reads it: did you mean hub_public_url?" in output
    assert "proxy_own_thing is set but no role of unopinionated.jupyterhub reads it (ignored)" in output
