"""Load providers.yaml and policies/ into one validated Config, or raise ConfigError."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from gateway.config.litellm_kinds import LITELLM_KINDS
from gateway.config.providers import (
    DEFAULT_OPERATIONS,
    KIND_BASE_URL,
    DnsReplicas,
    Limits,
    Price,
    ProvidersFile,
    ProviderSpec,
)
from gateway.config.routes import Compiled, check_default, compile_policy
from gateway.config.runtime import (
    Config,
    Deployment,
    DnsSource,
    LitellmAuth,
    Pool,
    PoolReplica,
    Route,
    ScopeLimit,
)
from gateway.config.yamlsrc import ConfigError, Document, load_yaml, validate


def load_config(providers_path: Path, policies_dir: Path, env: Mapping[str, str]) -> Config:
    doc = load_yaml(providers_path)
    providers = validate(ProvidersFile, doc)
    digest = hashlib.sha256(doc.raw)
    declared: dict[str, Deployment] = {}
    unavailable: dict[str, str] = {}
    for name, spec in providers.providers.items():
        why = _missing_credential(spec, env)
        if why is not None:
            unavailable[name] = why
        for dep in _deployments(name, spec):
            declared[dep.id] = dep
    deployments = {k: d for k, d in declared.items() if d.provider not in unavailable}
    routes = _implicit_routes(deployments)
    compiled = Compiled()
    default_doc: Document | None = None
    files = [str(doc.path)]
    for path in _policy_files(policies_dir):
        try:
            pdoc = load_yaml(path)
        except ConfigError as exc:
            compiled.problems.extend(exc.problems)
            continue
        digest.update(pdoc.raw)
        files.append(str(path))
        before = compiled.default_route
        compile_policy(pdoc, declared, unavailable, compiled)
        if compiled.default_route != before:
            default_doc = pdoc
    check_default(compiled, default_doc)
    if compiled.problems:
        raise ConfigError(compiled.problems)
    routes.update(compiled.routes)
    return Config(
        deployments,
        routes,
        unavailable,
        digest.hexdigest()[:12],
        default_route=compiled.default_route,
        files=tuple(files),
    )


def _deployments(provider: str, spec: ProviderSpec) -> list[Deployment]:
    out = []
    pool = _pool(spec)
    auth = _litellm_auth(spec)
    for model, mspec in spec.models.items():
        price = mspec.price or _pool_price(pool)
        out.append(
            Deployment(
                id=f"{provider}/{model}",
                provider=provider,
                model=model,
                upstream_model=mspec.upstream or model,
                kind=spec.kind,
                base_url=spec.base_url or KIND_BASE_URL.get(spec.kind) or _pool_url(pool),
                api_key_env=spec.api_key_env,
                input_per_mtok=price.input_per_mtok if price else None,
                output_per_mtok=price.output_per_mtok if price else None,
                cached_input_per_mtok=price.cached_input_per_mtok if price else None,
                cache_write_per_mtok=price.cache_write_per_mtok if price else None,
                reasoning_per_mtok=price.reasoning_per_mtok if price else None,
                capabilities=frozenset(mspec.capabilities)
                if mspec.capabilities is not None
                else None,
                context_window=mspec.context_window,
                tags=frozenset(spec.tags),
                limits=(_scope("p", spec.limits), _scope(f"m:{model}", mspec.limits)),
                region=spec.region,
                typical_ttft_ms=mspec.typical_ttft_ms,
                pool=pool,
                litellm=auth,
                operations=frozenset(mspec.operations or DEFAULT_OPERATIONS[spec.kind]),
                api_version=spec.api_version,
            )
        )
    return out


def _missing_credential(spec: ProviderSpec, env: Mapping[str, str]) -> str | None:
    """Why a provider cannot be used here (a secret's variable unset, an unreadable file)."""
    names = (
        spec.api_key_env,
        spec.aws_access_key_id_env,
        spec.aws_secret_access_key_env,
        spec.aws_session_token_env,
    )
    for name in names:
        if name and not env.get(name):
            return f"environment variable {name} is not set"
    if spec.credentials_file and not os.access(spec.credentials_file, os.R_OK):
        return f"credentials_file {spec.credentials_file} is not readable"
    return None


def _litellm_auth(spec: ProviderSpec) -> LitellmAuth | None:
    if spec.kind not in LITELLM_KINDS:
        return None
    return LitellmAuth(
        aws_access_key_id_env=spec.aws_access_key_id_env,
        aws_secret_access_key_env=spec.aws_secret_access_key_env,
        aws_session_token_env=spec.aws_session_token_env,
        aws_region=spec.aws_region,
        credentials_file=spec.credentials_file,
        vertex_project=spec.vertex_project,
        vertex_location=spec.vertex_location,
    )


def _pool(spec: ProviderSpec) -> Pool | None:
    if spec.kind != "pool" or spec.cost is None:
        return None
    cost, cap = spec.cost, spec.capacity
    listed, dns = spec.replicas, None
    if isinstance(listed, DnsReplicas):
        dns = DnsSource(listed.dns, listed.metrics_path, listed.refresh_s)
        listed = ()
    return Pool(
        replicas=tuple(PoolReplica(r.url, r.metrics_url or _metrics_url(r.url)) for r in listed),
        dns=dns,
        engine=spec.engine or "vllm",
        gpu_hour_usd=cost.gpu_hour_usd,
        gpus=cost.gpus,
        billing=cost.billing,
        goodput_tokens_per_s=cost.goodput_tokens_per_s,
        max_batch=cap.max_batch,
        max_queue=cap.max_queue,
        prefill_tokens_per_s=cap.prefill_tokens_per_s,
        prefix_affinity=spec.prefix_affinity,
    )


def _pool_url(pool: Pool | None) -> str:
    if pool is None:
        return ""
    return pool.dns.url if pool.dns is not None else pool.replicas[0].url


def _metrics_url(base_url: str) -> str:
    """Engines serve Prometheus text at the server root: http://host:8000/v1 -> .../metrics."""
    root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
    return f"{root}/metrics"


def _pool_price(pool: Pool | None) -> Price | None:
    """What scoring charges per token: ~0 for reserved GPUs, GPU-hour / goodput for elastic."""
    if pool is None:
        return None
    per_mtok = pool.amortised_per_mtok if pool.billing == "elastic" else None
    return Price(input_per_mtok=per_mtok or 0.0, output_per_mtok=per_mtok or 0.0)


def _scope(scope: str, limits: Limits | None) -> ScopeLimit:
    if limits is None:
        return ScopeLimit(scope)
    return ScopeLimit(scope, limits.rpm, limits.tpm, limits.max_concurrency)


def _implicit_routes(deployments: Mapping[str, Deployment]) -> dict[str, Route]:
    """A model name offered by several providers is one public name with several candidates."""
    by_model: dict[str, list[Deployment]] = {}
    for dep in deployments.values():
        by_model.setdefault(dep.model, []).append(dep)
    return {name: Route(name, tuple(deps)) for name, deps in by_model.items()}


def _policy_files(policies_dir: Path) -> list[Path]:
    if not policies_dir.is_dir():
        return []
    return sorted([*policies_dir.glob("*.yaml"), *policies_dir.glob("*.yml")])
