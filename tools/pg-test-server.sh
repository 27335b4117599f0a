#!/usr/bin/env bash
# A private PostgreSQL server for the test suite: its own cluster in $PGTEST_DIR on port
# $PGTEST_PORT (loopback only), role fleet/fleet with CREATEDB. `start` is idempotent; `stop`.
set -euo pipefail
action=${1:-start}
dir=${PGTEST_DIR:-/tmp/fleet-pgtest}
port=${PGTEST_PORT:-55432}
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -n "$bindir" ] || { echo "pg-test-server: PostgreSQL is not installed" >&2; exit 1; }
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi
}
case "$action" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"
      [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$dir"
      as_pg "$bindir/initdb -D '$dir' -A trust -U postgres --no-sync -E UTF8 >/dev/null"
    fi
    if ! as_pg "$bindir/pg_ctl -D '$dir' status" >/dev/null 2>&1; then
      as_pg "$bindir/pg_ctl -D '$dir' -l '$dir/server.log' -w -o \"-p $port -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200\" start" >/dev/null
    fi
    as_pg "$bindir/psql -h 127.0.0.1 -p $port -U postgres -tAc \"SELECT 1 FROM pg_roles WHERE rolname='fleet'\"" | grep -q 1 \
      || as_pg "$bindir/psql -h 127.0.0.1 -p $port -U postgres -qc \"CREATE ROLE fleet LOGIN CREATEDB PASSWORD 'fleet'\""
    echo "pg-test-server: PostgreSQL on 127.0.0.1:$port (data $dir)"
    ;;
  stop)
    as_pg "$bindir/pg_ctl -D '$dir' -m fast stop" || true
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
