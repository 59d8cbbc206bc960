"""The account_changes filter (plugins/filter/account_changes.py): what the roles' group and user
tasks would change, read from keyed getent lines."""

from ansible_collections.unopinionated.jupyterhub.plugins.filter.account_changes import account_changes

LINES = [
    "www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin",
    "jupyterhub:x:998:997::/opt/jupyterhub/state:/usr/sbin/nologin",
    "www-data:x:33:",
    "jupyterhub:x:997:",
    "jupyterhub-routes:x:996:www-data,jupyterhub",
]
HUB = {"name": "jupyterhub", "group": "jupyterhub", "shell": "/usr/sbin/nologin", "home": "/opt/jupyterhub/state"}
PROXY = {"name": "www-data", "group": "www-data", "shell": "/usr/sbin/nologin"}


def test_a_converged_host_changes_nothing():
    assert account_changes(LINES, users=[HUB, PROXY], groups=["www-data", "jupyterhub", "jupyterhub-routes"]) == \
        {"groups": [], "users": []}


def test_what_is_missing_is_made_and_a_new_groups_user_changes_too():
    changes = account_changes(LINES[:1], users=[HUB, PROXY], groups=["www-data", "jupyterhub-routes"])
    assert changes == {"groups": ["www-data", "jupyterhub-routes"], "users": ["jupyterhub", "www-data"]}


def test_a_users_group_shell_or_home_that_differs_is_changed():
    for changed in ({"group": "www-data"}, {"shell": "/bin/bash"}, {"home": "/home/jupyterhub"}):
        assert account_changes(LINES, users=[dict(HUB, **changed)])["users"] == ["jupyterhub"], changed
    # No home asked for (traefik's user): its home is the OS's.
    assert account_changes(LINES, users=[PROXY])["users"] == []


def test_lines_that_are_neither_passwd_nor_group_lines_are_ignored():
    odd = ["", "jupyterhub", "jupyterhub:x:997", "a:b:c:d:e:f:g:h"]
    assert account_changes(odd + LINES, users=[HUB], groups=["jupyterhub"]) == {"groups": [], "users": []}
