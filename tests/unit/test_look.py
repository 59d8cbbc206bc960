"""The look action (plugins/action/look.py) and its module: hostile words and input reach the
command exactly as given, through a real ansible-playbook run, with the connection pipelining
(the action runs the command itself) and without (the module runs it)."""

import json

import pytest
from ansible.errors import AnsibleActionFail

from conftest import HOSTILE_NAMES, module_ran, run_playbook

from ansible_collections.unopinionated.jupyterhub.plugins.action.look import command_line

PLAY = """\
- hosts: localhost
  gather_facts: false
  vars:
    words: "{{ lookup('ansible.builtin.file', 'words.json') | from_json }}"
  tasks:
    - name: Print each word on a line of its own, and what came in
      unopinionated.jupyterhub.look:
        argv: "{{ ['/bin/sh', '-c', 'cat > \\"$0\\"; printf \\"%s\\\\0\\" \\"$@\\"', playbook_dir ~ '/received'] + words }}"
        stdin: "{{ lookup('ansible.builtin.file', 'input.txt', rstrip=false) }}"
      register: printed

    - name: Without input, the command reads nothing (and has no terminal)
      unopinionated.jupyterhub.look:
        argv: [/bin/sh, -c, 'if [ -t 0 ] || [ -t 1 ]; then echo terminal; fi; cat; echo out; echo err >&2']
      register: bare

    - name: A command that fails
      unopinionated.jupyterhub.look:
        argv: [/bin/sh, -c, 'echo half; exit 3']
      register: failing
      failed_when: false

    - name: Report
      ansible.builtin.copy:
        content: "{{ {'printed': printed.stdout, 'bare': [bare.stdout, bare.stderr, bare.changed],
                      'failing': [failing.rc, failing.stdout, failing.failed | default(false), failing.msg | default('')]} | to_json }}"
        dest: "{{ playbook_dir }}/report.json"
        mode: "0600"
"""

INPUT = "line one\n`id` $(id) $HOME ~ {{ x }} %s %% \\n\n\nlast, no newline"


@pytest.mark.parametrize("pipelining", [True, False], ids=["action", "module"])
def test_hostile_words_and_input_reach_the_command_as_given(tmp_path, pipelining):
    words = HOSTILE_NAMES + ["~", "$HOME", "~root", "-n", "", "--", "a\tb", "'", "'\"'", "*.py", "\\"]
    (tmp_path / "words.json").write_text(json.dumps(words))
    (tmp_path / "input.txt").write_text(INPUT)
    (tmp_path / "play.yml").write_text(PLAY)
    result = run_playbook(tmp_path / "play.yml", "-vvv", "-e", f"ansible_pipelining={pipelining}")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    # Where the connection pipelines, the looks run no module (the interpreter with the module on its
    # stdin); elsewhere the module runs.
    looks = [section for section in result.stdout.split("\nTASK [")[1:] if not section.startswith("Report")]
    assert len(looks) == 3
    for section in looks:
        assert module_ran(section, "look") == (not pipelining), section[:2000]
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["printed"].split("\0") == words + [""]
    assert (tmp_path / "received").read_text() == INPUT
    assert report["bare"] == ["out", "err", False]
    assert report["failing"] == [3, "half", False, "non-zero return code"]


@pytest.mark.parametrize("argv", [[], "getent passwd", ["getent", 2], None, ["a\0b"]])
def test_argv_must_be_a_list_of_words(argv):
    with pytest.raises(AnsibleActionFail, match="argv|NUL"):
        command_line(argv)


def test_every_word_is_quoted_and_without_input_the_command_reads_dev_null():
    assert command_line(["getent", "passwd", "a b", "$(id)"]) == "getent passwd 'a b' '$(id)' </dev/null"
    assert command_line(["cat"], stdin="x") == "cat"


def test_a_task_that_sets_an_environment_gets_it(tmp_path):
    """Only a module's process gets the task's environment: with one, the module runs the command."""
    (tmp_path / "play.yml").write_text("""\
- hosts: localhost
  gather_facts: false
  tasks:
    - unopinionated.jupyterhub.look:
        argv: [/bin/sh, -c, 'printf %s "$UJH_LOOK"']
      environment:
        UJH_LOOK: "from the task"
      register: looked
    - ansible.builtin.assert:
        that: looked.stdout == 'from the task'
""")
    result = run_playbook(tmp_path / "play.yml", "-e", "ansible_pipelining=true")
    assert result.returncode == 0, result.stdout[-3000:]
