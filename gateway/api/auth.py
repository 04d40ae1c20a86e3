"""Who is calling: one Caller per request, resolved here and nowhere else.

A client presents a key as `Authorization: Bearer <key>` (or `x-api-key` on the Anthropic
routes): the master key (GATEWAY_MASTER_KEY), or a `gw-` key whose team, allowed models and
limits come from the key directory (an in-memory copy of the key table: no database query per
request). The `x-gateway-team` header sets the team only for the master key, or when auth is off
(`--no-auth`, loopback only): a client holding some other key must not pick its own team.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.types import Scope

from gateway.api.state import AppState
from gateway.core.caller import ANONYMOUS, Caller
from gateway.errors import AuthenticationError, ModelNotAllowed
from gateway.settings import Settings

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
    if not state.settings.auth:
        return state, Caller(team=team) if team is not None else ANONYMOUS
    given = _bearer(headers.get(b"authorization"))
    if given is None and x_api_key:
        given = headers.get(b"x-api-key")
    if given is None:
        raise AuthenticationError("Missing API key: send Authorization: Bearer <key>.")
    master = state.settings.master_key
    if master and hmac.compare_digest(given, master.encode()):
        return state, Caller(team=team, is_master=True)
    caller = state.keys.caller(given.decode("latin-1")) if state.keys is not None else None
    if caller is None:
        raise AuthenticationError("Invalid API key.")
    return state, caller


def check_model(caller: Caller, model: str) -> None:
    """403 for a model outside the caller's allow-list (its key's, else its team's)."""
    if not caller.may_use(model):
        raise ModelNotAllowed(f"This key may not use the model '{model}'.", param="model")


def require_admin(scope: Scope) -> AppState:
    """The admin routes: the master key when auth is on."""
    state, caller = authenticate(scope)
    if state.settings.auth and not caller.is_master:
        raise AuthenticationError("The admin API needs the master key.")
    return state


def check_bind(settings: Settings) -> None:
    """Refuse a start that would leave the gateway open, or unmanageable, to the network: no
    auth, or auth with no master key to create keys over the admin API, on a non-loopback
    bind. ValueError says why."""
    if _loopback(settings.host):
        return
    if not settings.auth:
        raise ValueError(
            f"--no-auth is allowed only on a loopback bind (127.0.0.1, ::1), not {settings.host}"
        )
    if not settings.master_key:
        raise ValueError(
            f"binding {settings.host} needs GATEWAY_MASTER_KEY (the admin API and key "
            "management are guarded by it)"
        )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bearer(value: bytes | None) -> bytes | None:
    if value is None or not value.startswith(b"Bearer "):
        return None
    return value[7:]
