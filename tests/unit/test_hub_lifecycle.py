"""The hub_lifecycle module's comparison (plugins/modules/hub_lifecycle.py) and the
configuration trial it runs (plugins/module_utils/hub_trial.py), with the controller
venv's JupyterHub, the same pin as the hub's."""

import grp
import json
import os
import pwd
import re
import subprocess
import sys
import textwrap

import pytest
from conftest import COLLECTIONS, module_ran, run_playbook

from ansible_collections.unopinionated.jupyterhub.plugins.module_utils import hub_trial
from ansible_collections.unopinionated.jupyterhub.plugins.modules import hub_lifecycle

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


def written(tmp_path, content=b"c.A.b = 1\n", mode=0o640):
    path = tmp_path / "10-a.py"
    path.write_bytes(content)
    path.chmod(mode)
    return str(path)


def test_a_file_as_the_entry_wants_it_does_not_differ(tmp_path):
    path = written(tmp_path)
    for mode in ("0640", "640", 0o640):
        assert hub_lifecycle.differs(path, b"c.A.b = 1\n", {"owner": ME, "group": MY_GROUP, "mode": mode}) is None
    assert hub_lifecycle.differs(path, b"c.A.b = 1\n", {"owner": os.getuid(), "group": str(os.getgid())}) is None
    assert hub_lifecycle.differs(path, b"c.A.b = 1\n", {}) is None


def test_content_mode_owner_and_group_each_make_a_difference(tmp_path):
    path = written(tmp_path)
    want = {"owner": ME, "group": MY_GROUP, "mode": "0640"}
    assert hub_lifecycle.differs(path, b"c.A.b = 2\n", want) == "content"
    assert hub_lifecycle.differs(path, b"c.A.b = 1\n", dict(want, mode="0644")) == "mode"
    assert hub_lifecycle.differs(path, b"c.A.b = 1\n", dict(want, mode="u=rw,g=r")) == "mode u=rw,g=r"
    other_user = next(u.pw_name for u in pwd.getpwall() if u.pw_uid != os.getuid())
    other_group = next(g.gr_name for g in grp.getgrall() if g.gr_gid != os.getgid())
    assert hub_lifecycle.differs(path, b"c.A.b = 1\n", dict(want, owner=other_user)) == "owner"
    assert hub_lifecycle.differs(path, b"c.A.b = 1\n", dict(want, group=other_group)) == "group"
    # An account that does not exist yet (check mode before the role creates it)
    assert hub_lifecycle.differs(path, b"c.A.b = 1\n", dict(want, owner="no-such-user-ujh")) == "owner"


def test_what_is_not_a_regular_file_always_differs(tmp_path):
    target = written(tmp_path)
    link = tmp_path / "link.py"
    link.symlink_to(target)  # same content through the link: still written (copy replaces it)
    assert hub_lifecycle.differs(str(link), b"c.A.b = 1\n", {}) == "not a regular file"
    assert hub_lifecycle.differs(str(tmp_path), b"", {}) == "not a regular file"
    assert hub_lifecycle.differs(str(tmp_path / "missing"), b"", {}) == "missing"


def test_an_entrys_own_attributes_win_over_its_kinds():
    defaults = {"fragment": {"owner": "root", "group": "jupyterhub", "mode": "0640"}}
    assert hub_lifecycle.attributes({"kind": "fragment"}, defaults) == defaults["fragment"]
    assert hub_lifecycle.attributes({"kind": "fragment", "mode": "0600", "owner": None}, defaults) == {
        "owner": "root", "group": "jupyterhub", "mode": "0600"}
    assert hub_lifecycle.attributes({"kind": "other"}, defaults) == {"owner": None, "group": None, "mode": None}


def test_what_differs_is_written_with_the_attributes_it_was_compared_with(tmp_path):
    """The role's copy task takes owner, group and mode from here, not from its own defaults."""
    same, other = tmp_path / "same.py", tmp_path / "other.py"
    same.write_text("x\n")
    same.chmod(0o640)
    mine = {"owner": ME, "group": MY_GROUP}
    defaults = {"fragment": dict(mine, mode="0640"), "file": dict(mine, mode="0644")}
    entries = [{"kind": "fragment", "path": str(same), "content": "x\n", "owner": None},
               {"kind": "fragment", "path": str(other), "content": "y\n", "mode": "0600"},
               {"kind": "file", "path": str(tmp_path / "new.py"), "content": "z\n"}]
    stale = tmp_path / "stale.py"
    stale.write_text("")
    changed, written = hub_lifecycle.compare(entries, [str(stale), str(tmp_path / "gone")], defaults)
    assert changed == {str(other): "missing", str(tmp_path / "new.py"): "missing", str(stale): "removed"}
    assert written == {str(other): dict(mine, mode="0600"), str(tmp_path / "new.py"): defaults["file"]}


# The trial: a staged configuration as the module stages it (base config, config.d/).
BASE = """import glob, os
c = get_config()  # noqa
for path in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "config.d", "*.py"))):
    load_subconfig(path)
"""


def staged(tmp_path, **fragments):
    (tmp_path / "config.d").mkdir()
    (tmp_path / "jupyterhub_config.py").write_text(BASE)
    for name, text in fragments.items():
        (tmp_path / "config.d" / f"{name}.py").write_text(text)
    return str(tmp_path)


def run_trial(directory):
    return json.loads(json.dumps(hub_trial.trial(directory)))


def test_the_module_sends_the_trial_to_the_hubs_python_and_reads_its_answer(tmp_path):
    """As the module runs it: hub_trial.py's source to a Python with -c, in the staged directory."""
    directory = staged(tmp_path, **{"10-auth": 'c.JupyterHub.authenticator_class = "dummy"\nc.Spawner.nope = 1\n'})
    result = subprocess.run([sys.executable, "-c", hub_lifecycle.TRIAL, directory], cwd=directory,
                            capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(result.stdout.splitlines()[-1]) == {"unknown": ["Spawner.nope"]}


def test_a_configuration_that_loads_reports_the_options_no_class_knows(tmp_path):
    outcome = run_trial(staged(tmp_path, **{
        "10-auth": 'c.JupyterHub.authenticator_class = "dummy"\nc.DummyAuthenticator.pasword = "x"\n',
        "20-hub": "c.JupyterHub.hub_ip = '127.0.0.1'\nc.JupyterHub.no_such_trait = 1\n"}))
    assert outcome == {"unknown": ["DummyAuthenticator.pasword", "JupyterHub.no_such_trait"]}


def test_a_syntax_error_names_file_and_line_but_not_the_line_itself(tmp_path):
    outcome = run_trial(staged(tmp_path, **{"10-ok": "c.JupyterHub.hub_ip = '127.0.0.1'\n",
                                            "20-broken": "\n\nc.X.secret = 'hunter2\n"}))
    assert outcome["error"]["file"] == "config.d/20-broken.py" and outcome["error"]["line"] == 3
    assert outcome["error"]["message"].startswith("SyntaxError") and "hunter2" not in json.dumps(outcome)


def test_an_exception_names_the_fragment_that_raised_it(tmp_path):
    outcome = run_trial(staged(tmp_path, **{"30-raises": "x = 1\nraise RuntimeError('from the fragment')\n"}))
    assert outcome["error"]["file"] == "config.d/30-raises.py" and outcome["error"]["line"] == 2
    assert "RuntimeError: from the fragment" in outcome["error"]["message"]


def test_a_value_a_trait_refuses_names_the_last_fragment_that_sets_it(tmp_path):
    outcome = run_trial(staged(tmp_path, **{
        "10-first": 'c.JupyterHub.authenticator_class = "dummy"\nc.Authenticator.admin_users = {"a"}\n',
        "20-second": "c.Authenticator.admin_users = 5\n"}))
    assert outcome["error"]["file"] == "config.d/20-second.py"
    assert outcome["error"]["message"].startswith("TraitError")


def test_a_hostile_option_name_is_only_text_to_the_trial(tmp_path):
    # The setters search quotes the name: a regex in a trait name must not match everything.
    found = hub_trial.setters([staged(tmp_path, **{"10-a": "c.A.b = 1\n"}) + "/config.d/10-a.py"], ".*")
    assert found == []


def test_an_unreachable_database_is_named_without_its_password(tmp_path):
    # A database server that does not answer (port 1 on loopback): SQLAlchemy's own error,
    # through a driver in the controller venv (pymysql, pinned by requirements-dev.txt).
    outcome = run_trial(staged(tmp_path, **{
        "10-db": 'c.JupyterHub.db_url = "mysql+pymysql://hub:s3cr%40t@127.0.0.1:1/jupyterhub"\n'}))
    assert outcome["error"]["where"].startswith("the database of hub_db_url (mysql+pymysql://hub:***@")
    assert "OperationalError" in outcome["error"]["message"] and "s3cr" not in json.dumps(outcome)


def test_only_the_contents_are_hidden_from_ansibles_output(tmp_path):
    """Run by Ansible, as the role runs it: a fragment that does not load is named (path, line),
    its content (a secret) is not shown, and nothing is written."""
    (tmp_path / "hub").mkdir()
    directory = staged(tmp_path / "hub")
    fragment = f"{directory}/config.d/20-secret.py"
    playbook = tmp_path / "play.yml"
    playbook.write_text(textwrap.dedent(f"""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - unopinionated.jupyterhub.hub_lifecycle:
                base_config: {directory}/jupyterhub_config.py
                python: {sys.executable}
                user: {ME}
                entries:
                  - {{kind: fragment, path: {fragment}, content: "c.X.token = 'tok-hunter2'\\nc.Y = (\\n"}}
                defaults: {{fragment: {{owner: {ME}, group: {MY_GROUP}, mode: "0640"}}}}
                backup: {directory}/previous-config.json
        """))
    result = run_playbook(playbook, "-v")
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert f"fragment {fragment}, line 2: SyntaxError" in output, output[-3000:]
    assert "tok-hunter2" not in output and not os.path.exists(fragment)
    assert not os.path.exists(f"{directory}/previous-config.json")


@pytest.mark.parametrize("pipelining", [True, False], ids=["action", "module"])
@pytest.mark.parametrize("announced", ["<b>new</b>\n", "old\n"], ids=["differs", "as asked"])
def test_a_quiet_entry_that_differs_is_reported_but_neither_tried_nor_a_change(tmp_path, pipelining, announced):
    """The announcement (hub_announcement): compared with the configuration, written by the role
    without a restart. Here the configuration is as asked and the announcement is not: the task
    reports no change (no restart), runs no trial (the base configuration does not even load), and
    names the announcement with the attributes to write it with. Where the connection pipelines, the
    action looks first and runs the module only where something differs: the same answers."""
    (tmp_path / "hub").mkdir()
    directory = staged(tmp_path / "hub")
    config = f"{directory}/jupyterhub_config.py"
    with open(config) as f:
        content = f.read()
    os.chmod(config, 0o640)
    announcement = tmp_path / "announcement.html"
    announcement.write_text("old\n")
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"unopinionated.jupyterhub.hub_lifecycle": {
            "base_config": config, "python": "/nonexistent/python", "user": ME,
            "entries": [{"kind": "config", "path": config, "content": content}],
            "quiet": [{"kind": "branding", "path": str(announcement), "content": announced}],
            "defaults": {"config": {"owner": ME, "group": MY_GROUP, "mode": "0640"},
                         "branding": {"owner": ME, "group": MY_GROUP, "mode": "0644"}},
            "backup": f"{directory}/previous-config.json"},
         "register": "trial"},
        {"ansible.builtin.assert": {"that": [
            "trial is not changed", "trial.changed_paths == {}",
            f"trial.quiet_paths == {{{str(announcement)!r}: 'content'}}" if "new" in announced else "trial.quiet_paths == {}",
            f"trial.attributes[{str(announcement)!r}].mode == '0644'" if "new" in announced else "trial.attributes == {}"]}}]}]))
    announcement.chmod(0o644)
    os.chmod(directory, 0o755)
    result = run_playbook(playbook, "-vvv", "-e", f"ansible_pipelining={pipelining}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    # The look (host_files.py, -I -c) runs only where the connection pipelines; the module (the
    # interpreter alone, the module on its stdin) only where something differs.
    assert ("python3 -I -c" in result.stdout) == pipelining
    assert module_ran(result.stdout, "hub_lifecycle") == ("new" in announced or not pipelining)
    assert announcement.read_text() == "old\n"  # the role writes it, not the trial
    assert not os.path.exists(f"{directory}/previous-config.json")


def base_config(public_url, bind_url, internal_ssl=False):
    """The base configuration's two URL lines as roles/hub/templates renders them (to_json)."""
    template = (COLLECTIONS / "ansible_collections/unopinionated/jupyterhub/roles/hub/templates/"
                "jupyterhub_config.py.j2").read_text()
    template = re.sub(r"{% if hub_internal_ssl \| bool %}(.*?){% endif %}",
                      lambda m: m.group(1) if internal_ssl else "", template, flags=re.S)
    return (template.replace("{{ hub_public_url | to_json }}", json.dumps(public_url))
            .replace("{{ hub_bind_url | to_json }}", json.dumps(bind_url)))


HEALTH_CASES = [  # hub_public_url, hub_bind_url, where the hub answers /hub/health
    ("https://hub.example.org/course/", "http://127.0.0.1:8081", "http://127.0.0.1:8081/course/hub/health"),
    ("https://hub.example.org/", "http://0.0.0.0:9000/", "http://127.0.0.1:9000/hub/health"),
    ("https://hub.example.org/ü/", "http://[::1]:8081", "http://[::1]:8081/ü/hub/health"),
    ("https://hub.example.org/", "http://[::]:8081", "http://127.0.0.1:8081/hub/health"),
]
# The role's rule with hub_internal_ssl (the last case): the same listener, over TLS.
ROLE_HEALTH_URLS = [case[2] for case in HEALTH_CASES[:-1]] + ["https://127.0.0.1:8081/hub/health"]


def test_the_health_url_after_a_roll_back_is_the_restored_configurations():
    for public, bind, expected in HEALTH_CASES:
        assert hub_lifecycle.health_url(base_config(public, bind)) == expected
    # A configuration of a release that did not write both lines: the caller keeps its own URL.
    assert hub_lifecycle.health_url('c.JupyterHub.bind_url = "https://hub.example.org/"\n') is None
    assert hub_lifecycle.health_url("") is None
    # A hub with internal_ssl answers on the same listener, over TLS.
    assert (hub_lifecycle.health_url(base_config("https://hub.example.org/", "http://0.0.0.0:8081", internal_ssl=True))
            == "https://127.0.0.1:8081/hub/health")


def test_the_roles_health_url_follows_the_same_rule(tmp_path):
    # The hub role's __hub_health_url, rendered by Ansible from the role's vars (it was once a
    # Jinja copy of the rule, which wrote an IPv6 listener without its brackets).
    out = tmp_path / "urls"
    playbook = tmp_path / "play.yml"
    playbook.write_text(json.dumps([{
        "hosts": "localhost", "connection": "local", "gather_facts": False,
        "vars_files": [str(COLLECTIONS / "ansible_collections/unopinionated/jupyterhub/roles/hub/vars/main.yml")],
        "tasks": [{"ansible.builtin.lineinfile": {"path": str(out), "line": "{{ __hub_health_url }}", "create": True},
                   "vars": {"hub_public_url": "{{ item.0 }}", "hub_bind_url": "{{ item.1 }}",
                            "hub_internal_ssl": "{{ item.1 == 'http://[::]:8081' }}"},
                   "loop": [list(case[:2]) for case in HEALTH_CASES]}],
    }]))
    result = run_playbook(playbook)
    assert result.returncode == 0, result.stdout[-2000:]
    assert out.read_text().splitlines() == ROLE_HEALTH_URLS


# Page templates (hub_templates, the roles' own): JupyterHub compiles them only when a page is
# asked for; the trial compiles them, a staged one before the host's.
def templates(tmp_path, staged_dir, site, host=None):
    (tmp_path / "site").mkdir(exist_ok=True)
    for name, text in (host or {}).items():
        (tmp_path / "site" / name).write_text(text)
    for name, text in site.items():
        path = tmp_path / "stage" / "templates" / str(tmp_path / "site").lstrip("/") / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return staged_dir


def site_config(tmp_path):
    return staged(tmp_path / "stage", **{"10-pages": "c.JupyterHub.template_paths.append(%r)\n" % str(tmp_path / "site")})


def test_templates_that_compile_and_extend_jupyterhubs_pass(tmp_path):
    (tmp_path / "stage").mkdir()
    directory = templates(tmp_path, site_config(tmp_path), {
        "login.html": '{% extends "templates/login.html" %}{% block login %}<p>Course</p>{{ super() }}{% endblock %}'})
    assert run_trial(directory) == {"unknown": []}


def test_a_staged_template_with_a_syntax_error_is_named_with_its_line(tmp_path):
    (tmp_path / "stage").mkdir()
    directory = templates(tmp_path, site_config(tmp_path), {"login.html": '{% extends "templates/login.html" %}\n\n{% block x %}'},
                          host={"login.html": "{% extends 'templates/login.html' %}"})
    error = run_trial(directory)["error"]
    assert error["file"] == str(tmp_path / "site" / "login.html") and error["line"] == 3
    assert error["message"].startswith("TemplateSyntaxError in the template login.html")


def test_a_template_that_extends_one_that_does_not_exist_fails(tmp_path):
    (tmp_path / "stage").mkdir()
    directory = templates(tmp_path, site_config(tmp_path), {"home.html": '{% extends "templates/hom.html" %}'})
    assert "TemplateNotFound in the template home.html: templates/hom.html" in run_trial(directory)["error"]["message"]


def test_the_hosts_templates_are_compiled_too(tmp_path):
    (tmp_path / "stage").mkdir()
    directory = templates(tmp_path, site_config(tmp_path), {}, host={"page.html": "{% if %}"})
    error = run_trial(directory)["error"]
    assert error["file"] is None and error["where"] == str(tmp_path / "site" / "page.html")
