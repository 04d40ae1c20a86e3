"""The kinds served through litellm (bedrock, vertex, cohere, litellm): their litellm model
strings and the credential fields each needs in providers.yaml (pure: no I/O)."""

from __future__ import annotations

LITELLM_KINDS = ("bedrock", "vertex", "cohere", "litellm")
# litellm's provider prefix, added to a model's `upstream:` when the user left it out.
PREFIX = {"bedrock": "bedrock/", "vertex": "vertex_ai/", "cohere": "cohere/"}
# The fields of a provider that only these kinds take (credentials by reference).
CREDENTIAL_FIELDS = (
    "aws_access_key_id_env",
    "aws_secret_access_key_env",
    "aws_session_token_env",
    "aws_region",
    "credentials_file",
    "vertex_project",
    "vertex_location",
)
REQUIRED = {
    "bedrock": ("aws_access_key_id_env", "aws_secret_access_key_env", "aws_region"),
    "vertex": ("credentials_file", "vertex_location"),
    "cohere": ("api_key_env",),
}


def litellm_model(kind: str, upstream: str) -> str:
    """The litellm model string: `bedrock/…`, `vertex_ai/…`, `cohere/…` or, for kind litellm,
    exactly what the user wrote."""
    prefix = PREFIX.get(kind, "")
    if not prefix or upstream.startswith(prefix):
        return upstream
    if kind == "vertex" and upstream.startswith("vertex_ai_beta/"):
        return upstream
    return prefix + upstream


def credential_problem(kind: str, given: dict[str, object]) -> str | None:
    """What is wrong with a provider's credential fields (given: field -> value or None)."""
    if kind not in LITELLM_KINDS:
        extra = [f for f in CREDENTIAL_FIELDS if given.get(f) is not None]
        if extra:
            return f"{', '.join(extra)}: only for kind {', '.join(LITELLM_KINDS)}"
        return None
    missing = [f for f in REQUIRED.get(kind, ()) if given.get(f) is None]
    if missing:
        return f"kind: {kind} needs {', '.join(missing)}"
    return None
