#!/usr/bin/env bash
# Start the local Redis and PostgreSQL that the tests use, unless they already run, and install
# chromium (the status page's browser test) unless it is there. Idempotent; never stops anything.
set -euo pipefail

# tests/deploy validates docker-compose.yml with Debian's docker-compose (static: no daemon).
if ! command -v docker-compose >/dev/null 2>&1; then
  echo "installing docker-compose (Debian package)"
  apt-get update -q >/dev/null && apt-get install -y -q docker-compose >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting redis-server on 127.0.0.1:6379"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  echo "starting PostgreSQL on 127.0.0.1:5432"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi

# The status page's browser test (tests/integration/test_status_page_browser.py) drives
# Debian's headless chromium; it fails, never skips, without it.
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (the /ui browser test)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
fi

for _ in $(seq 1 50); do
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q; then
    exit 0
  fi
  sleep 0.2
done
echo "services did not come up: redis and/or postgres on 127.0.0.1" >&2
exit 1
