# The gateway as a container: `docker build -t gateway .` (docker-compose.yml builds it too).
# One image serves every role of the compose stack: `gateway serve`, `gateway migrate`,
# `gateway sim` and the load generator.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, from pyproject.toml alone: this layer is rebuilt only when they change.
# EXTRAS: optional extras of pyproject.toml to include (otel: traces over OTLP when
# OTEL_EXPORTER_OTLP_ENDPOINT is set); `--build-arg EXTRAS=` for none.
ARG EXTRAS="otel"
COPY pyproject.toml ./
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + [d for e in os.environ['EXTRAS'].split() for d in p['optional-dependencies'][e]]))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the package. Editable, on purpose: `gateway migrate` finds its Alembic scripts in
# migrations/ next to the package (gateway/ledger/schema.py), which a wheel would leave behind.
COPY README.md ./
COPY gateway ./gateway
COPY migrations ./migrations
RUN pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /var/lib/gateway --create-home gateway \
    && install -d -o gateway -g gateway /var/lib/gateway/spool
# The repository's example config; compose mounts its own folder over /etc/gateway.
COPY providers.yaml /etc/gateway/providers.yaml
COPY policies /etc/gateway/policies

# Non-root, in its own home: the only place written (the spool keeps ledger rows while the
# database is down; with no database configured, the SQLite file gateway.db lands here too).
USER gateway
WORKDIR /var/lib/gateway
ENV GATEWAY_HOST=0.0.0.0 \
    GATEWAY_PORT=8080 \
    GATEWAY_PROVIDERS=/etc/gateway/providers.yaml \
    GATEWAY_POLICIES=/etc/gateway/policies \
    GATEWAY_LEDGER_SPOOL_DIR=/var/lib/gateway/spool
EXPOSE 8080

# Liveness: /healthz answers as soon as the app serves (no key needed, no vendor involved).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('GATEWAY_PORT', '8080'), timeout=2)"]

CMD ["gateway", "serve", "--host", "0.0.0.0"]
