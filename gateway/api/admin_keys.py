"""Admin API for keys and teams (master key): create, list, show, update, revoke.

POST /admin/keys answers the new key once (`key`); no other answer ever holds a key or a hash.
The KeyStore is `app.state.keys` (opened by the lifespan). Errors in OpenAI's shape.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.responses import Response

from gateway.api.auth import require_admin
from gateway.errors import Conflict, InvalidRequest, KeysUnavailable, NotFound
from gateway.tenancy.keys import shown
from gateway.tenancy.spend import Spend, spend_by
from gateway.tenancy.views import key_view, team_view

if TYPE_CHECKING:
    from gateway.tenancy.store import KeyStore

router = APIRouter(include_in_schema=False)  # not advertised in /openapi.json

_TEN_YEARS_S = 10 * 366 * 86400
M = TypeVar("M", bound="BaseModel")
R = TypeVar("R")


class _Limits(BaseModel):
    model_config = ConfigDict(extra="forbid")

    models: list[str] | None = None
    rpm: int | None = Field(default=None, strict=True)
    tpm: int | None = Field(default=None, strict=True)
    budget_usd_day: Decimal | None = None
    budget_usd_month: Decimal | None = None


class _Expiry(_Limits):
    expires_in_s: int | None = Field(default=None, strict=True, gt=0, le=_TEN_YEARS_S)


class KeyCreate(_Expiry):
    team: str
    name: str | None = None


class KeyPatch(_Expiry):
    name: str | None = None


class TeamCreate(_Limits):
    name: str


class TeamPatch(_Limits):
    pass


# Keys


@router.post("/admin/keys")
async def create_key(request: Request) -> Response:
    store = _store(request)
    body = await _body(request, KeyCreate)
    limits = body.model_dump(include=_LIMITS)
    expires_in = None if body.expires_in_s is None else timedelta(seconds=body.expires_in_s)
    async with _errors():
        rec, key = await store.create_key(
            body.team, name=body.name, expires_in=expires_in, **limits
        )
    await _changed(request)  # this replica knows at once
    return _json({**key_view(rec), "key": key}, 201)


@router.get("/admin/keys")
async def list_keys(request: Request, team: str | None = None) -> Response:
    store = _store(request)
    async with _errors():
        keys = await store.list_keys(team)
    return _json({"object": "list", "data": [key_view(k) for k in keys]})


@router.get("/admin/keys/{key_id}")
async def get_key(request: Request, key_id: str) -> Response:
    """The key with its spend today and this month, and what is left of its budgets."""
    store = _store(request)
    async with _errors():
        rec = _found(await store.get_key(key_id), "key", key_id)
        spend = await spend_by(store.engine, "key_id", only=rec.id)
    return _json(key_view(rec, spend.get(rec.id, Spend())))


@router.patch("/admin/keys/{key_id}")
async def update_key(request: Request, key_id: str) -> Response:
    store = _store(request)
    body = await _body(request, KeyPatch)
    fields = body.model_dump(include=body.model_fields_set - {"expires_in_s"})
    if "expires_in_s" in body.model_fields_set:
        seconds = body.expires_in_s
        fields["expires_at"] = None if seconds is None else _now() + timedelta(seconds=seconds)
    async with _errors():
        rec = _found(await store.update_key(key_id, **fields), "key", key_id)
    await _changed(request)  # this replica knows at once
    return _json(key_view(rec))


@router.delete("/admin/keys/{key_id}")
async def revoke_key(request: Request, key_id: str) -> Response:
    """Revoke (the row stays, for the ledger's key_id); the answer is the revoked key."""
    store = _store(request)
    async with _errors():
        rec = _found(await store.revoke(key_id), "key", key_id)
    await _changed(request)  # this replica knows at once
    return _json(key_view(rec))


# Teams


@router.post("/admin/teams")
async def create_team(request: Request) -> Response:
    store = _store(request)
    body = await _body(request, TeamCreate)
    async with _errors():
        rec = await store.create_team(body.name, **body.model_dump(include=_LIMITS))
    await _changed(request)  # this replica knows at once
    return _json(team_view(rec), 201)


@router.get("/admin/teams")
async def list_teams(request: Request) -> Response:
    store = _store(request)
    async with _errors():
        teams = await store.list_teams()
    return _json({"object": "list", "data": [team_view(t) for t in teams]})


@router.get("/admin/teams/{name}")
async def get_team(request: Request, name: str) -> Response:
    store = _store(request)
    async with _errors():
        rec = _found(await store.get_team(name), "team", name)
        spend = await spend_by(store.engine, "team", only=rec.name)
    return _json(team_view(rec, spend.get(rec.name, Spend())))


@router.patch("/admin/teams/{name}")
async def update_team(request: Request, name: str) -> Response:
    store = _store(request)
    body = await _body(request, TeamPatch)
    async with _errors():
        rec = await store.update_team(name, **body.model_dump(include=body.model_fields_set))
    await _changed(request)  # this replica knows at once
    return _json(team_view(_found(rec, "team", name)))


# Plumbing

_LIMITS = {"models", "rpm", "tpm", "budget_usd_day", "budget_usd_month"}


def _store(request: Request) -> KeyStore:
    """The master key first (401 before anything else), then the store."""
    # The store's module (and SQLAlchemy) only when a key route is called: not needed to be ready.
    from gateway.tenancy.store import KeyStore

    require_admin(request.scope)
    store = getattr(request.app.state, "keys", None)
    if not isinstance(store, KeyStore):
        raise KeysUnavailable("The key store is not available on this gateway.")
    return store


async def _body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first.get("loc", ())) or None
        raise InvalidRequest(str(first.get("msg", "Invalid request body.")), param=param) from None


async def _changed(request: Request) -> None:
    """Reload the key directory now (the other replicas follow within its refresh interval)."""
    directory = request.app.state.gateway.keys
    if directory is not None:
        await directory.refresh()


@asynccontextmanager
async def _errors() -> AsyncIterator[None]:
    """Store errors as API errors: ValueError 400, TeamExists 409, database down 503."""
    from sqlalchemy.exc import DBAPIError

    from gateway.tenancy.store import TeamExists

    try:
        yield
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    except TeamExists as exc:
        raise Conflict(str(exc)) from None
    except (DBAPIError, OSError):
        raise KeysUnavailable("The key database is unavailable; try again.") from None


def _found(record: R | None, what: str, ident: str) -> R:
    if record is None:
        raise NotFound(f"No {what} '{shown(ident)}'.", param="id" if what == "key" else "name")
    return record


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _now() -> datetime:
    return datetime.now(UTC)
