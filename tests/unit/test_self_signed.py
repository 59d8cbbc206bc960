"""The proxy role's self-signed certificate is kept only while it is what the role would make:
its look (plugins/action/look.py running openssl) and its decision (roles/proxy/vars/main.yml:
__proxy_self_signed_kept), through a real ansible-playbook run on certificates openssl made."""

import json
import subprocess

import pytest

from conftest import ROOT, run_playbook


def certificate(path, name, days, issuer=None):
    key = path.with_suffix(".key")
    if issuer is None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", str(days), "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}",
                        "-keyout", str(key), "-out", str(path)], check=True, capture_output=True)
        return
    request = path.with_suffix(".csr")
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(request)], check=True, capture_output=True)
    extensions = path.with_suffix(".ext")
    extensions.write_text(f"subjectAltName=DNS:{name}\n")
    subprocess.run(["openssl", "x509", "-req", "-in", str(request), "-CA", str(issuer), "-CAkey",
                    str(issuer.with_suffix(".key")), "-CAcreateserial", "-days", str(days), "-extfile", str(extensions),
                    "-out", str(path)], check=True, capture_output=True)


@pytest.fixture
def decisions(tmp_path):
    certificate(tmp_path / "ca.pem", "Site CA", 400)
    certificate(tmp_path / "kept.pem", "hub.example.org", 400)
    certificate(tmp_path / "other-name.pem", "other.example.org", 400)
    certificate(tmp_path / "expiring.pem", "hub.example.org", 20)
    certificate(tmp_path / "site-issued.pem", "hub.example.org", 400, issuer=tmp_path / "ca.pem")
    (tmp_path / "not-pem.pem").write_text("-----BEGIN CERTIFICATE-----\nbroken\n")
    names = ["kept", "other-name", "expiring", "site-issued", "not-pem", "missing"]
    play = tmp_path / "play.yml"
    play.write_text(f"""\
- hosts: localhost
  gather_facts: false
  vars_files:
    - {ROOT}/roles/proxy/vars/main.yml
  tasks:
    - name: Look at each certificate as the proxy role does, and decide
      ansible.builtin.include_tasks: decide.yml
      loop: {json.dumps(names)}
      loop_control:
        loop_var: name

    - name: Report
      ansible.builtin.copy:
        content: "{{{{ kept | to_json }}}}"
        dest: "{{{{ playbook_dir }}}}/report.json"
        mode: "0600"
""")
    # The role's own task, as tasks/configure.yml has it, on each file.
    (tmp_path / "decide.yml").write_text(f"""\
- name: Look at the certificate
  unopinionated.jupyterhub.look:
    argv: [openssl, x509, -in, "{tmp_path}/{{{{ name }}}}.pem", -noout, -subject, -issuer, -enddate, -checkhost,
           "{{{{ proxy_tls_self_signed_name }}}}"]
  register: __proxy_self_signed
  failed_when: false

- name: Keep the decision
  ansible.builtin.set_fact:
    kept: "{{{{ kept | default({{}}) | combine({{name: __proxy_self_signed_kept}}) }}}}"
""")
    result = run_playbook(play, "-e", "proxy_tls_self_signed_name=hub.example.org", "-e", "ansible_pipelining=true")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    return json.loads((tmp_path / "report.json").read_text())


def test_only_a_self_signed_certificate_for_the_name_valid_for_30_more_days_is_kept(decisions):
    assert decisions == {"kept": True, "other-name": False, "expiring": False, "site-issued": False,
                         "not-pem": False, "missing": False}


def test_the_role_looks_at_its_certificate_with_the_same_command():
    configure = (ROOT / "roles" / "proxy" / "tasks" / "configure.yml").read_text()
    assert ('argv: [openssl, x509, -in, "{{ __proxy_tls_cert }}", -noout, -subject, -issuer, -enddate, -checkhost, '
            '"{{ proxy_tls_self_signed_name }}"]') in configure
