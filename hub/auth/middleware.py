"""Authentication middleware: ``Authorization: Bearer <api key>`` to a :class:`Principal`."""

from __future__ import annotations

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from hub.auth.keystore import KeyStore
from hub.errors import HubError


class ApiKeyAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """Authenticates every non-public route with a hub API key."""

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:
        """Resolve the bearer key; a missing or bad key is a 401 in OpenAI's format."""
        header = connection.headers.get("authorization", "")
        scheme, _, secret = header.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise HubError(
                "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
                status_code=401,
                code="missing_api_key",
            )
        store: KeyStore = connection.app.state.key_store
        principal = await store.authenticate(secret)
        return AuthenticationResult(user=principal, auth=None)
