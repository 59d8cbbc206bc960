"""hub_config_fragments on the controller: where their files are (hub_fragment_files filter) and
what the hub is handed (hub_site_fragments lookup, run by Ansible as the role runs it)."""

import json
import textwrap

from conftest import run_playbook
from ansible_collections.unopinionated.jupyterhub.plugins.filter.hub_fragment_files import hub_fragment_files


def test_a_relative_file_is_found_in_the_first_directory_that_has_it(tmp_path):
    inventory, playbooks = tmp_path / "inventory", tmp_path / "playbooks"
    for d in (inventory, playbooks):
        d.mkdir()
    (playbooks / "a.py").write_text("")
    (inventory / "b.py.j2").write_text("")
    (playbooks / "b.py.j2").write_text("")
    fragments = {"inline": "c.X = 1", "a": {"src": "a.py"}, "b": {"template": "b.py.j2"},
                 "abs": {"src": str(playbooks / "a.py")}, "missing": {"src": "nowhere.py"},
                 "two keys": {"src": "a.py", "template": "b.py.j2"}}
    files = hub_fragment_files(fragments, [str(inventory), "", str(playbooks)])
    assert files == {"a": str(playbooks / "a.py"), "b": str(inventory / "b.py.j2"), "abs": str(playbooks / "a.py"),
                     "missing": f"{inventory}/nowhere.py or {playbooks}/nowhere.py"}


def test_the_hub_is_handed_each_fragment_as_the_site_wrote_it(tmp_path):
    (tmp_path / "plain.py").write_text("c.Spawner.default_url = '/lab'  # {{ not rendered }}\n\n\n")
    (tmp_path / "rendered.py.j2").write_text("c.JupyterHub.log_level = {{ level | to_json }}\n")
    fragments = {"10-inline.py": "c.A.b = 'x'   \n", "20-plain": {"src": "plain.py"},
                 "30-rendered": {"template": "rendered.py.j2"}, 'odd"name': "c.C.d = 1"}
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - hosts: localhost
          gather_facts: false
          vars:
            level: DEBUG
            fragments: {json.dumps(fragments)}
          tasks:
            - ansible.builtin.copy:
                content: "{{{{ query('unopinionated.jupyterhub.hub_site_fragments', fragments,
                           files=fragments | unopinionated.jupyterhub.hub_fragment_files([playbook_dir]),
                           config_dir='/opt/jupyterhub/config.d') | to_json }}}}"
                dest: {tmp_path}/out.json
                mode: "0600"
        """))
    result = run_playbook(playbook)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    entries = json.loads((tmp_path / "out.json").read_text())
    footer = ("\n# From hub_config_fragments[{}] (unopinionated.jupyterhub); managed by Ansible, changes here are"
              " overwritten. At the end, so line numbers are the site's.\n")
    assert entries == [
        {"kind": "fragment", "path": "/opt/jupyterhub/config.d/10-inline.py",
         "content": "c.A.b = 'x'" + footer.format('"10-inline.py"')},
        {"kind": "fragment", "path": "/opt/jupyterhub/config.d/20-plain.py",
         "content": "c.Spawner.default_url = '/lab'  # {{ not rendered }}" + footer.format('"20-plain"')},
        {"kind": "fragment", "path": "/opt/jupyterhub/config.d/30-rendered.py",
         "content": 'c.JupyterHub.log_level = "DEBUG"' + footer.format('"30-rendered"')},
        {"kind": "fragment", "path": '/opt/jupyterhub/config.d/odd"name.py',
         "content": "c.C.d = 1" + footer.format('"odd\\"name"')},
    ]
