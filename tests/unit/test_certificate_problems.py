"""The CA certificate check of preflight (plugins/filter/certificate_problems.py)."""

from test_tls_pair_problem import pair

from ansible_collections.unopinionated.jupyterhub.plugins.filter.certificate_problems import (
    certificate_problems, problem)


def test_certificates_and_bundles_pass_with_text_around_them():
    first = pair()[0]
    second = pair()[0]
    assert problem(first) is None
    assert problem("# Issuer: Example Root CA\n" + first + "\n" + second) is None


def test_each_wrong_file_is_refused_with_its_reason(tmp_path):
    cert, key = pair()
    broken = cert.replace(cert.splitlines()[3], "A" * 64)
    files = {"der.crt": "0\x82\x03\x1e0\x82\x02", "key.pem": cert + key, "broken.pem": broken,
             "vault.pem": "$ANSIBLE_VAULT;1.1;AES256\n3132", "empty.crt": "", "good.crt": cert}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = certificate_problems([str(tmp_path / name) for name in files] + [str(tmp_path / "missing.crt")])
    reasons = {path.rsplit("/", 1)[1]: reason for path, reason in found.items()}
    assert set(reasons) == {"der.crt", "key.pem", "broken.pem", "vault.pem", "empty.crt"}
    assert reasons["der.crt"].startswith("it holds no PEM block")
    assert reasons["empty.crt"].startswith("it holds no PEM block")
    assert reasons["key.pem"] == "it holds a PRIVATE KEY block, where only CERTIFICATE blocks belong"
    assert reasons["broken.pem"].startswith("its certificate 1 does not load")
    assert reasons["vault.pem"].startswith("it is vault-encrypted")
