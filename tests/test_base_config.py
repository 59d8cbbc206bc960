"""The hub's base config template renders to valid Python with the right defaults.

Its behaviour with the real JupyterHub (routes readable by traefik, servers kept
across restarts) is proven by the molecule default scenario.
"""

import ast
from pathlib import Path

import jinja2

TEMPLATE = Path(__file__).resolve().parents[1] / "roles" / "hub" / "templates" / "jupyterhub_config.py.j2"


def render(**overrides):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["comment"] = lambda text: "\n".join(f"# {line}" for line in str(text).splitlines())
    env.filters["to_json"] = lambda value: __import__("json").dumps(value)
    env.filters["bool"] = bool
    values = {
        "ansible_managed": "Managed by Ansible",
        "jupyterhub_base_dir": "/srv/hub",
        "__jupyterhub_state_dir": "/srv/hub/state",
        "__jupyterhub_config_dir": "/srv/hub/config.d",
        "__jupyterhub_routes_dir": "/srv/hub/proxy/routes",
        "hub_public_url": "https://hub.example.org/",
        "hub_bind_url": "http://127.0.0.1:8081",
        "hub_db_url": "",
        "jupyterhub_proxy_api_port": 8099,
        "hub_metrics_enabled": False,
        "hub_authenticator": "",
    }
    values.update(overrides)
    return env.from_string(TEMPLATE.read_text()).render(**values)


def test_base_config_renders_to_valid_python_with_sqlite_by_default():
    source = render()
    ast.parse(source)
    assert "sqlite:///" in source
    assert "cleanup_servers = False" in source
    assert "should_start = False" in source


def test_base_config_reads_an_external_database_from_beside_itself_not_from_the_template():
    # The URL and password (database.json, written by the role) never enter the
    # template; the molecule databases scenario proves the escaping with real servers.
    source = render(hub_db_url="postgresql://hub:secret@db/hub")
    ast.parse(source)
    assert "hub:secret@" not in source
    assert 'c.JupyterHub.db_url = database_url(os.path.join(os.path.dirname(os.path.abspath(__file__)), "database.json"))' in source
    assert "sqlite:///" not in source


def test_metrics_service_gets_only_read_metrics_and_its_token_from_state():
    assert "read:metrics" not in render()
    source = render(hub_metrics_enabled=True)
    ast.parse(source)
    assert '"scopes": ["read:metrics"], "services": ["metrics"]' in source
    assert 'read_secret(STATE_DIR, "metrics_api_token")' in source


def test_pam_preset_sets_values_only_and_names_stay_data_whatever_they_hold():
    assert "PAMAuthenticator" not in render(hub_authenticator="")
    hostile = ['a"b', "c'd", "e\\f", "g`id`", "{h}", "%i", "j\nk", "$(l)", "ü"]
    source = render(hub_authenticator="pam", hub_pam_service="jupyterhub-sssd", hub_allowed_users=["x"],
                    hub_allowed_groups=hostile, hub_admin_users=[], hub_admin_groups=["hubadmins"])
    tree = ast.parse(source)
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]).startswith("c.PAMAuthenticator."):
            value = node.value
            if isinstance(value, ast.Call):  # set([...]): its argument is a literal, never code
                assert ast.unparse(value.func) == "set" and len(value.args) == 1
                value = value.args[0]
            found[ast.unparse(node.targets[0])] = ast.literal_eval(value)
    assert found == {
        "c.PAMAuthenticator.service": "jupyterhub-sssd",
        "c.PAMAuthenticator.open_sessions": False,
        "c.PAMAuthenticator.allowed_users": ["x"],
        "c.PAMAuthenticator.allowed_groups": hostile,
        "c.PAMAuthenticator.admin_users": [],
        "c.PAMAuthenticator.admin_groups": ["hubadmins"],
    }
    assert 'c.JupyterHub.authenticator_class = "pam"' in source
