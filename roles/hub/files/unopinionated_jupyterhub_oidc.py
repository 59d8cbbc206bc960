# Copyright: unopinionated.jupyterhub developers
# BSD 3-Clause License (see LICENSE)
"""hub_authenticator: oidc - oauthenticator's GenericOAuthenticator, with the hub's access checked again
at every token refresh.

Written by the hub role beside the base configuration (tried and put back with it) when the preset is
on. oauthenticator 17.4 syncs a user's groups from the provider at each refresh but does not ask again
whether they may use the hub: a student the provider takes out of every allowed group kept the hub
until their next sign-in (up to the cookie's 14 days). Here a refresh that finds the user no longer
allowed ends their session; their next sign-in is refused. Unit tests: tests/unit/test_oidc.py.
"""

from oauthenticator.generic import GenericOAuthenticator
from tornado import web


class OIDCAuthenticator(GenericOAuthenticator):
    """GenericOAuthenticator whose refresh also checks hub_allowed_users/_groups (and admin status)."""

    async def refresh_user(self, user, handler=None, **kwargs):
        auth_model = await super().refresh_user(user, handler, **kwargs)
        if not isinstance(auth_model, dict):
            return auth_model
        try:
            allowed = await self.check_allowed(user.name, auth_model)
        except web.HTTPError:
            allowed = False
        if not allowed:
            groups = await self.get_user_groups(auth_model.get("auth_state") or {})
            self.log.warning("%s may no longer use this hub (the provider's groups: %s): they must sign in again",
                             user.name, sorted(groups))
            return False
        return auth_model
