"""The os_release filter (plugins/filter/os_release.py): the facts the collection needs from a host's
/etc/os-release, named as Ansible's setup names them, or nothing (then the role runs setup)."""

from pathlib import Path

import pytest

from ansible_collections.unopinionated.jupyterhub.plugins.filter.os_release import os_release

ROCKY = 'NAME="Rocky Linux"\nVERSION="9.4 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.4"\n'
SID = 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nNAME="Debian GNU/Linux"\nVERSION_CODENAME=trixie\nID=debian\n'


def test_this_machines_own_debian():
    facts = os_release(Path("/etc/os-release").read_text())
    assert facts["os_family"] == "Debian" and facts["distribution"] == "Debian" and facts["pkg_mgr"] == "apt"
    assert facts["distribution_major_version"].isdigit()


@pytest.mark.parametrize("text, expected", [
    ('ID=debian\nVERSION_ID="13"\n', ("Debian", "Debian", "13", "apt")),
    ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', ("Debian", "Ubuntu", "24", "apt")),
    (ROCKY, ("RedHat", "Rocky", "9", "dnf")),
    ("ID='rhel'\nVERSION_ID='9.5'\n", ("RedHat", "RedHat", "9", "dnf")),
])
def test_known_distributions_are_named_as_setup_names_them(text, expected):
    facts = os_release(text)
    assert (facts["os_family"], facts["distribution"], facts["distribution_major_version"], facts["pkg_mgr"]) == expected


@pytest.mark.parametrize("text", [SID, "ID=arch\n", "", 'ID=debian\nVERSION_ID="$(id)"\n', "ID=debian\nVERSION_ID=\"12\n",
                                  "ID=\"debian\" extra\nVERSION_ID=12\n"])
def test_anything_else_is_left_to_setup(text):
    assert os_release(text) == {}
