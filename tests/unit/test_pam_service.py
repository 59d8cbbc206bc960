"""The pam_service module: what a PAM service authenticates with, as the hub's preflight reads it.

Fed the services Debian writes (common-auth with bracketed controls, @include, continuation
lines), includes that loop or escape /etc/pam.d, and this machine's own /etc/pam.d/login.
"""

import json
import sys
import textwrap

import pytest

from conftest import run_playbook

from ansible_collections.unopinionated.jupyterhub.plugins.modules import pam_service

COMMON_AUTH = """\
# here are the per-package modules (the "Primary" block)
auth\t[success=2 default=ignore]\tpam_unix.so nullok
auth\t[success=1 default=ignore]\tpam_sss.so use_first_pass
# here's the fallback if no module succeeds
auth\trequisite\t\t\tpam_deny.so
auth\trequired\t\t\tpam_permit.so
"""


@pytest.fixture
def pam_dir(tmp_path):
    def write(**services):
        for name, text in services.items():
            (tmp_path / name.replace("_", "-")).write_text(textwrap.dedent(text))
        return str(tmp_path)
    return write


@pytest.fixture
def modules(tmp_path):
    """A module directory holding pam_sss.so and pam_unix.so only."""
    lib = tmp_path / "lib" / "x86_64-linux-gnu" / "security"
    lib.mkdir(parents=True)
    for name in ("pam_sss.so", "pam_unix.so"):
        (lib / name).write_text("")
    return (str(tmp_path / "lib" / "*" / "security"),)


def test_debian_includes_are_followed_in_order(pam_dir, modules):
    d = pam_dir(common_auth=COMMON_AUTH,
                common_account="account [success=1 new_authtok_reqd=done default=ignore] pam_unix.so\n",
                login="""\
                    auth       optional   pam_faildelay.so  delay=3000000
                    @include common-auth
                    @include common-account
                    session    required   pam_limits.so
                    """)
    found = pam_service.read_service("login", d, dirs=modules)
    assert found["modules"] == {
        "auth": ["pam_faildelay.so", "pam_unix.so", "pam_sss.so", "pam_deny.so", "pam_permit.so"],
        "account": ["pam_unix.so"],
    }
    assert found["exists"] and found["problems"] == []
    assert found["missing"] == ["pam_deny.so", "pam_faildelay.so", "pam_permit.so"]


def test_include_substack_dash_and_continuation_lines(pam_dir, modules):
    d = pam_dir(other_auth="auth required pam_unix.so\naccount required pam_unix.so\n",
                svc="""\
                    -auth   optional pam_gnome_keyring.so
                    auth    substack other-auth
                    account include  other-auth
                    auth    [success=done \\
                             default=die] pam_sss.so   # trailing comment
                    password required pam_unix.so
                    """)
    found = pam_service.read_service("svc", d, dirs=modules)
    assert found["modules"] == {"auth": ["pam_gnome_keyring.so", "pam_unix.so", "pam_sss.so"],
                                "account": ["pam_unix.so"]}
    assert found["missing"] == ["pam_gnome_keyring.so"]


def test_the_roles_own_service_is_read_from_its_text_not_the_host(pam_dir, modules):
    own = (pam_service.__file__.rsplit("/plugins/", 1)[0] + "/roles/hub/templates/pam-service.j2")
    text = "\n".join(line for line in open(own).read().splitlines() if not line.startswith("{{"))
    found = pam_service.read_service("jupyterhub-sssd", pam_dir(), content=text, dirs=modules)
    assert found == {"exists": True, "modules": {"auth": ["pam_sss.so"], "account": ["pam_sss.so"]},
                     "missing": [], "problems": []}
    assert pam_service.read_service("jupyterhub-sssd", pam_dir(), content=text, dirs=("/nonexistent",))[
        "missing"] == ["pam_sss.so"]


@pytest.mark.parametrize("include", ["../shadow", "/etc/shadow", "common auth", "sub/dir", "`id`", "$(id)", ".hidden"])
def test_an_include_is_a_plain_name_in_the_pam_directory_never_a_path(pam_dir, modules, tmp_path, include):
    (tmp_path.parent / "shadow").write_text("auth required pam_permit.so\n")
    d = pam_dir(svc=f"@include {include}\nauth include {include}\n")
    found = pam_service.read_service("svc", d, dirs=modules)
    assert found["modules"] == {"auth": [], "account": []}
    assert len(found["problems"]) == 2 and all("not a plain service name" in p or "No such file" in p
                                               for p in found["problems"]), found["problems"]


def test_a_missing_service_a_missing_include_and_a_loop_are_problems_not_crashes(pam_dir, modules):
    d = pam_dir(a="@include b\n", b="auth include a\nauth required pam_sss.so\n", c="@include gone\n")
    assert pam_service.read_service("nothing", d, dirs=modules)["exists"] is False
    looped = pam_service.read_service("a", d, dirs=modules)
    assert looped["modules"]["auth"] == ["pam_sss.so"] and "includes itself" in looped["problems"][0]
    gone = pam_service.read_service("c", d, dirs=modules)
    assert gone["exists"] and "gone" in gone["problems"][0]
    assert pam_service.read_service("../etc/shadow", d, dirs=modules)["exists"] is False


def test_a_module_named_by_path_is_looked_for_at_that_path(pam_dir, modules, tmp_path):
    (tmp_path / "pam_x.so").write_text("")
    d = pam_dir(svc=f"auth required {tmp_path}/pam_x.so\naccount required /nonexistent/pam_y.so\n")
    assert pam_service.read_service("svc", d, dirs=modules)["missing"] == ["/nonexistent/pam_y.so"]


def test_through_ansible_this_machines_login_service_uses_pam_unix(tmp_path):
    playbook = tmp_path / "read.yml"
    playbook.write_text(textwrap.dedent("""\
        - hosts: localhost
          gather_facts: false
          tasks:
            - unopinionated.jupyterhub.pam_service:
                name: login
              register: found
              check_mode: true
            - ansible.builtin.copy:
                content: "{{ found | to_json }}"
                dest: "{{ playbook_dir }}/found.json"
                mode: "0600"
        """))
    result = run_playbook(playbook, "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}")
    assert result.returncode == 0, result.stdout[-2000:]
    found = json.loads((tmp_path / "found.json").read_text())
    assert found["exists"] and found["changed"] is False
    assert "pam_unix.so" in found["modules"]["auth"] and "pam_unix.so" not in found["missing"]
