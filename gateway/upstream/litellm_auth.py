"""The credentials of a provider served through litellm, read once from the references in
providers.yaml (environment variable names, a service-account file) into litellm's keyword
arguments, so litellm never looks anything up on its own."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from gateway.config.runtime import Deployment


def litellm_credentials(dep: Deployment, env: Mapping[str, str]) -> dict[str, str]:
    """litellm's keyword arguments for this deployment's provider (only those that are set)."""
    auth = dep.litellm
    out: dict[str, str | None] = {
        "api_key": env.get(dep.api_key_env) if dep.api_key_env else None,
        "api_base": dep.base_url or None,
    }
    if auth is not None:
        out.update(
            aws_access_key_id=_env(env, auth.aws_access_key_id_env),
            aws_secret_access_key=_env(env, auth.aws_secret_access_key_env),
            aws_session_token=_env(env, auth.aws_session_token_env),
            aws_region_name=auth.aws_region,
            vertex_project=auth.vertex_project,
            vertex_location=auth.vertex_location,
        )
        if auth.credentials_file:
            # The service account's JSON itself, read now: the file is not read again per call.
            out["vertex_credentials"] = Path(auth.credentials_file).read_text()
    return {k: v for k, v in out.items() if v}


def _env(env: Mapping[str, str], name: str | None) -> str | None:
    return env.get(name) if name else None
