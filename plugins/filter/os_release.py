# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""The os_release filter: the facts the collection needs, from a host's /etc/os-release."""

from __future__ import annotations

DOCUMENTATION = r"""
name: os_release
short_description: The OS family, distribution, major version and package manager a host's os-release names
version_added: 0.4.0
author: unopinionated.jupyterhub developers (@unopinionated)
description:
  - >-
    Used by the C(_common) role, which reads C(/etc/os-release) with one C(look) instead of running
    C(ansible.builtin.setup) (a module run that costs about 0.45 s more per converge here). Names them as
    Ansible's own facts do (C(os_family), C(distribution), C(distribution_major_version), C(pkg_mgr)) for the
    distributions it knows; for any other, or an os-release without C(VERSION_ID) (Debian testing), it returns
    an empty mapping and the role runs C(setup) as before.
  - >-
    Known here are Debian and Ubuntu (apt), and Red Hat Enterprise Linux, Rocky, AlmaLinux, CentOS Stream and
    Fedora (dnf). Only Debian is proven by the collection's tests.
options:
  _input:
    description: The text of /etc/os-release.
    type: str
    required: true
"""

EXAMPLES = r"""
os: "{{ os_release_look.stdout | unopinionated.jupyterhub.os_release }}"
"""

RETURN = r"""
_value:
  description: C(os_family), C(distribution), C(distribution_major_version) and C(pkg_mgr); empty when not known.
  type: dict
"""

import shlex

# ID -> (Ansible's distribution name, its os_family, its package manager).
KNOWN = {
    "debian": ("Debian", "Debian", "apt"),
    "ubuntu": ("Ubuntu", "Debian", "apt"),
    "rhel": ("RedHat", "RedHat", "dnf"),
    "rocky": ("Rocky", "RedHat", "dnf"),
    "almalinux": ("AlmaLinux", "RedHat", "dnf"),
    "centos": ("CentOS", "RedHat", "dnf"),
    "fedora": ("Fedora", "RedHat", "dnf"),
}


def os_release(text):
    if not isinstance(text, str):
        raise TypeError("os_release reads the text of /etc/os-release, not %s" % type(text).__name__)
    fields = {}
    for line in text.splitlines():
        name, separator, value = line.partition("=")
        if separator and name.strip().isidentifier():
            try:
                words = shlex.split(value, posix=True)
            except ValueError:
                continue
            fields[name.strip()] = words[0] if len(words) == 1 else ""
    known = KNOWN.get(fields.get("ID", ""))
    major = fields.get("VERSION_ID", "").split(".")[0]
    if not known or not major.isdigit():
        return {}
    distribution, family, pkg_mgr = known
    return {"os_family": family, "distribution": distribution, "distribution_major_version": major,
            "pkg_mgr": pkg_mgr}


class FilterModule:
    def filters(self):
        return {"os_release": os_release}
