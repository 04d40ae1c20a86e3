"""Who is calling: one Caller per request, resolved here and nowhere else.

Until API keys exist the only key is GATEWAY_MASTER_KEY. The `x-gateway-team` header sets the
team only when no master key is configured (an open, loopback gateway) or when the caller used
the master key: a client holding some other credential must not pick its own team.
"""

from __future__ import annotations

import hmac

from starlette.types import Scope

from gateway.api.state import AppState
from gateway.core.caller import Caller
from gateway.errors import AuthenticationError

_HEADERS = frozenset({b"authorization", b"x-api-key", b"x-gateway-team"})


def app_state(scope: Scope) -> AppState:
    state: AppState = scope["app"].state.gateway
    return state


def authenticate(scope: Scope, *, x_api_key: bool = False) -> tuple[AppState, Caller]:
    """The app's state and the caller; AuthenticationError (401) for a missing or wrong key.
    `x_api_key`: the route also accepts the key in `x-api-key` (the Anthropic SDK's header)."""
    state: AppState = scope["app"].state.gateway
    headers = {k: v for k, v in scope["headers"] if k in _HEADERS}
    team_header = headers.get(b"x-gateway-team")
    team = team_header.decode("latin-1") if team_header else None
    master = state.settings.master_key
    if not master:
        return state, Caller(team=team)
    given = _bearer(headers.get(b"authorization"))
    if given is None and x_api_key:
        given = headers.get(b"x-api-key")
    if given is None or not hmac.compare_digest(given, master.encode()):
        raise AuthenticationError("Missing or invalid API key in the Authorization header.")
    return state, Caller(team=team, is_master=True)


def require_admin(scope: Scope) -> AppState:
    """The admin routes: the master key when one is configured."""
    state, caller = authenticate(scope)
    if state.settings.master_key and not caller.is_master:
        raise AuthenticationError("The admin API needs the master key.")
    return state


def _bearer(value: bytes | None) -> bytes | None:
    if value is None or not value.startswith(b"Bearer "):
        return None
    return value[7:]
