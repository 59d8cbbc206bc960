"""hub_authenticator: oidc (roles/hub/files/unopinionated_jupyterhub_oidc.py): a refresh checks access again.

oauthenticator's own refresh path runs (its refresh_user_hook stands for the provider's userinfo answer);
the molecule course scenario signs in, refreshes and is refused against a real provider.
"""

import asyncio
from types import SimpleNamespace

import pytest
from conftest import HOSTILE_NAMES

from unopinionated_jupyterhub_oidc import OIDCAuthenticator


def refreshed(groups, admin=False):
    """What oauthenticator makes of the provider's answer at a refresh (its auth model)."""
    return {"name": "ann", "admin": admin, "groups": groups,
            "auth_state": {"access_token": "new", "oauth_user": {"preferred_username": "ann", "groups": groups}}}


def authenticator(answer):
    return OIDCAuthenticator(
        allowed_groups={"physics"}, admin_groups={"teachers"}, manage_groups=True, enable_auth_state=True,
        auth_state_groups_key="oauth_user.groups", client_id="hub", client_secret="secret",
        refresh_user_hook=lambda authenticator, user, auth_state: answer)


USER = SimpleNamespace(name="ann", get_auth_state=lambda: asyncio.sleep(0, {"access_token": "old"}))


def test_a_user_still_in_an_allowed_group_keeps_the_hub():
    model = refreshed(["physics", "chemistry"])
    assert asyncio.run(authenticator(model).refresh_user(USER)) is model


def test_a_user_taken_out_of_every_allowed_group_must_sign_in_again():
    assert asyncio.run(authenticator(refreshed(["chemistry"])).refresh_user(USER)) is False


def test_an_admin_stays_allowed_and_no_answer_is_passed_on():
    model = refreshed([], admin=True)
    assert asyncio.run(authenticator(model).refresh_user(USER)) is model
    assert asyncio.run(authenticator(False).refresh_user(USER)) is False  # the provider refused the refresh


@pytest.mark.parametrize("group", HOSTILE_NAMES + ["physics ", "PHYSICS", "physics\n"])
def test_group_names_are_only_compared(group):
    assert asyncio.run(authenticator(refreshed([group])).refresh_user(USER)) is False
