#!/bin/sh
# Grafana's read-only role (run once, when the postgres service initialises its volume).
# Grafana runs whatever SQL a dashboard holds: it gets SELECT on the ledger, nothing more.
# Default privileges cover the tables, partitions and views that `gateway migrate` creates later.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v reader="${GRAFANA_DB_USER:-grafana_reader}" -v owner="$POSTGRES_USER" \
    -v db="$POSTGRES_DB" -v password="$GRAFANA_DB_PASSWORD" <<'SQL'
CREATE ROLE :"reader" LOGIN PASSWORD :'password';
GRANT CONNECT ON DATABASE :"db" TO :"reader";
GRANT USAGE ON SCHEMA public TO :"reader";
GRANT SELECT ON ALL TABLES IN SCHEMA public TO :"reader";
ALTER DEFAULT PRIVILEGES FOR ROLE :"owner" IN SCHEMA public GRANT SELECT ON TABLES TO :"reader";
SQL
