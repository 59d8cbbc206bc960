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
        "hub_route_compression": True,
        "hub_db_url": "",
        "jupyterhub_proxy_api_port": 8099,
        "jupyterhub_proxy_recent_tier": False,
        "jupyterhub_proxy_recent_port": 8097,
        "jupyterhub_proxy_recent_api_port": 8098,
        "__jupyterhub_recent_routes_dir": "/srv/hub/proxy/routes-recent",
        "hub_metrics_enabled": False,
        "hub_authenticator": "",
        "hub_internal_ssl": False,
        "__hub_announcement_file": "/srv/hub/announcement.html",
        "hub_logo_file": "",
        "__hub_logo_path": "/srv/hub/logo.png",
        "hub_templates": {},
        "__hub_site_templates_dir": "/srv/hub/templates/site",
    }
    values.update(overrides)
    return env.from_string(TEMPLATE.read_text()).render(**values)


def test_base_config_renders_to_valid_python_with_sqlite_by_default():
    source = render()
    ast.parse(source)
    assert "sqlite:///" in source
    assert "cleanup_servers = False" in source
    assert "should_start = False" in source


def test_the_recent_tier_is_set_only_when_asked_for():
    settings = {"recent_url": "http://127.0.0.1:8097", "recent_api_url": "http://127.0.0.1:8098",
                "recent_config_file": "/srv/hub/proxy/routes-recent/rules.yaml"}
    assert "recent_url" not in render()
    tiered = render(jupyterhub_proxy_recent_tier=True)
    assert {f'c.SharedRoutesTraefikProxy.{name} = "{value}"' for name, value in settings.items()} <= \
        set(tiered.splitlines()) and ast.parse(tiered)


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


def assignments(source, prefix, skip=()):
    """The literal values the configuration gives ``prefix``'s settings (a set(...) of a literal as its list)."""
    found = {}
    for node in ast.parse(source).body:
        if (isinstance(node, ast.Assign) and ast.unparse(node.targets[0]).startswith(prefix)
                and ast.unparse(node.targets[0]) not in skip):
            value = node.value
            if isinstance(value, ast.Call):  # set([...]): its argument is a literal, never code
                assert ast.unparse(value.func) == "set" and len(value.args) == 1
                value = value.args[0]
            found[ast.unparse(node.targets[0])] = ast.literal_eval(value)
    return found


def test_ldap_preset_checks_the_certificate_and_its_values_stay_data_whatever_they_hold():
    assert "LDAPAuthenticator" not in render(hub_authenticator="pam", hub_pam_service="x", hub_allowed_users=[],
                                             hub_allowed_groups=[], hub_admin_users=[], hub_admin_groups=[])
    hostile = ['cn=a"b', "cn=c'd,o=e\\f", "cn=g`id`", "cn={h}", "cn=%i", "cn=j\nk", "cn=$(l)", "cn=ü"]
    source = render(hub_authenticator="ldap", hub_ldap_server_address="ldap.example.org", hub_ldap_server_port=0,
                    hub_ldap_tls_strategy="before_bind", hub_ldap_ca_file="/etc/ssl/ca'\".pem",
                    hub_ldap_bind_dn_templates=["uid={username},o=x\"y"], hub_ldap_allowed_groups=hostile,
                    hub_allowed_users=["x"], hub_admin_users=["alice"])
    tree = ast.parse(source)
    # tls_kwargs: CERT_REQUIRED from the ssl module (ldap3's default checks nothing), the CA as a literal.
    (tls,) = [n.value for n in tree.body if isinstance(n, ast.Assign)
              and ast.unparse(n.targets[0]) == "c.LDAPAuthenticator.tls_kwargs"]
    assert [ast.unparse(k) for k in tls.keys] == ["'validate'", "'ca_certs_file'"]
    assert ast.unparse(tls.values[0]) == "ssl.CERT_REQUIRED" and ast.literal_eval(tls.values[1]) == "/etc/ssl/ca'\".pem"
    assert assignments(source, "c.LDAPAuthenticator.", skip=["c.LDAPAuthenticator.tls_kwargs"]) == {
        "c.LDAPAuthenticator.server_address": "ldap.example.org",
        "c.LDAPAuthenticator.tls_strategy": "before_bind",
        "c.LDAPAuthenticator.bind_dn_template": ['uid={username},o=x"y'],
        "c.LDAPAuthenticator.allowed_groups": hostile,
        "c.LDAPAuthenticator.allowed_users": ["x"],
        "c.LDAPAuthenticator.admin_users": ["alice"],
    }
    assert 'c.JupyterHub.authenticator_class = "ldapauthenticator.LDAPAuthenticator"' in source
    assert "server_port" not in source  # 0: the strategy's default port
    assert "c.LDAPAuthenticator.server_port = 1636" in render(
        hub_authenticator="ldap", hub_ldap_server_address="l", hub_ldap_server_port=1636, hub_ldap_tls_strategy="on_connect",
        hub_ldap_ca_file="/c", hub_ldap_bind_dn_templates=[], hub_ldap_allowed_groups=[], hub_allowed_users=[],
        hub_admin_users=[])


def test_pam_preset_sets_values_only_and_names_stay_data_whatever_they_hold():
    assert "PAMAuthenticator" not in render(hub_authenticator="")
    hostile = ['a"b', "c'd", "e\\f", "g`id`", "{h}", "%i", "j\nk", "$(l)", "ü"]
    source = render(hub_authenticator="pam", hub_pam_service="jupyterhub-sssd", hub_allowed_users=["x"],
                    hub_allowed_groups=hostile, hub_admin_users=[], hub_admin_groups=["hubadmins"])
    assert assignments(source, "c.PAMAuthenticator.") == {
        "c.PAMAuthenticator.service": "jupyterhub-sssd",
        "c.PAMAuthenticator.open_sessions": False,
        "c.PAMAuthenticator.allowed_users": ["x"],
        "c.PAMAuthenticator.allowed_groups": hostile,
        "c.PAMAuthenticator.admin_users": [],
        "c.PAMAuthenticator.admin_groups": ["hubadmins"],
    }
    assert 'c.JupyterHub.authenticator_class = "pam"' in source


def test_the_sites_page_templates_come_before_every_roles_and_jupyterhubs():
    """The roles' fragments prepend their template directories; the site's is prepended after them."""
    from traitlets.config import Config

    source = render(hub_templates={"login.html": "x"})
    ast.parse(source)
    loop = source.index("load_subconfig(_fragment)")
    assert source.index('template_paths.prepend(["/srv/hub/templates/site"])') > loop
    # What traitlets makes of it: the base config's lines, around a role's fragment.
    c = Config()
    c.JupyterHub.template_paths.prepend(["/srv/hub/templates/slurm"])  # a fragment (slurm_spawner)
    c.JupyterHub.template_paths.prepend(["/srv/hub/templates/site"])  # the base config, after the fragments
    assert c.JupyterHub.template_paths.get_value(["/stock"]) == [
        "/srv/hub/templates/site", "/srv/hub/templates/slurm", "/stock"]


def test_oidc_preset_takes_the_providers_endpoints_and_keeps_the_secret_in_state():
    endpoints = {"authorization_endpoint": "https://idp/authorize", "token_endpoint": "https://idp/token",
                 "userinfo_endpoint": "https://idp/userinfo", "end_session_endpoint": "https://idp/logout"}
    source = render(hub_authenticator="oidc", __hub_oidc_endpoints=endpoints, hub_oidc_client_id="hub\"'",
                    hub_oidc_issuer_url="https://idp/", hub_oidc_login_service="the \"university\"",
                    hub_oidc_scopes=["openid", "groups"], hub_oidc_username_claim="preferred_username",
                    hub_oidc_groups_claim="groups", hub_oidc_refresh_seconds=300,
                    hub_allowed_users=[], hub_allowed_groups=["physics"], hub_admin_users=[], hub_admin_groups=[])
    tree = ast.parse(source)
    assert 'read_secret(STATE_DIR, "oidc_client_secret")' in source
    assert 'c.GenericOAuthenticator.token_url = "https://idp/token"' in source
    assert 'c.GenericOAuthenticator.auth_state_groups_key = "oauth_user.groups"' in source
    assert "c.GenericOAuthenticator.enable_auth_state = True" in source
    # Values stay data whatever they hold.
    strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    assert "hub\"'" in strings and 'the "university"' in strings
