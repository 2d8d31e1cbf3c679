#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the ringtrace-postgres integration tests.
#
#   scripts/pg-server.sh start     # create (first time) and start; prints the env to export
#   scripts/pg-server.sh stop      # fast shutdown (no-op when not running)
#   scripts/pg-server.sh restart   # fast shutdown, then start again
#   scripts/pg-server.sh env       # print the env lines only
#   scripts/pg-server.sh destroy   # stop and delete the cluster directory
#
# Then: eval "$(scripts/pg-server.sh env)"; cargo test -p ringtrace-postgres -- --ignored
#
# The cluster lives in $TEST_RINGTRACE_PG_DIR (default /tmp/ringtrace-pg), listens on 127.0.0.1 and
# a unix socket in $TEST_RINGTRACE_PG_DIR/sock, port $TEST_RINGTRACE_PG_PORT (default 54329, so it never
# collides with a distribution's cluster on 5432). Roles (all with LOGIN, owning nothing but
# the database `ringtrace`):
#   ringtrace        password $TEST_RINGTRACE_PG_PASSWORD, scram-sha-256 over TCP and the socket
#   ringtrace_md5    same password, stored and checked as MD5
#   ringtrace_clear  same password, checked with the cleartext `password` method
# The cluster's superuser authenticates by `trust` on the socket only (this script's setup).
#
# Server binaries: $PG_BIN if set, else the newest /usr/lib/postgresql/<version>/bin (Debian and
# Ubuntu's layout, as `apt-get install postgresql` leaves it), else `pg_config --bindir`.
# PostgreSQL refuses to run as root: as root every server command runs as the `postgres` user
# (created by the Debian package) through runuser.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT="$(pwd)"
PGDIR="${TEST_RINGTRACE_PG_DIR:-/tmp/ringtrace-pg}"
PORT="${TEST_RINGTRACE_PG_PORT:-54329}"
PASSWORD="${TEST_RINGTRACE_PG_PASSWORD:-rt-Test-Pw-7c1e}"
DATA="$PGDIR/data"
SOCK="$PGDIR/sock"
LOG="$PGDIR/server.log"

find_bin() {
    if [[ -n "${PG_BIN:-}" ]]; then
        echo "$PG_BIN"
        return
    fi
    local newest
    newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    if [[ -n "$newest" && -x "$newest/initdb" ]]; then
        echo "$newest"
        return
    fi
    if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then
        pg_config --bindir
        return
    fi
    echo "pg-server.sh: no PostgreSQL server binaries found (install the postgresql package or set PG_BIN)" >&2
    exit 1
}

BIN="$(find_bin)"

if [[ "$(id -u)" == 0 ]]; then
    SUPERUSER=postgres
    as_pg() { runuser -u postgres -- "$@"; }
else
    SUPERUSER="$(id -un)"
    as_pg() { "$@"; }
fi

running() {
    [[ -f "$DATA/PG_VERSION" ]] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

psql_su() {
    as_pg "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U "$SUPERUSER" "$@"
}

init_cluster() {
    [[ -f "$DATA/PG_VERSION" ]] && return
    mkdir -p "$PGDIR"
    if [[ "$(id -u)" == 0 ]]; then
        chown postgres: "$PGDIR"
    fi
    chmod 0755 "$PGDIR"
    as_pg mkdir -p "$SOCK"
    as_pg "$BIN/initdb" -D "$DATA" -U "$SUPERUSER" --encoding=UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >"$PGDIR/initdb.log" 2>&1 ||
        { cat "$PGDIR/initdb.log" >&2; exit 1; }
    as_pg tee "$DATA/pg_hba.conf" >/dev/null <<EOF
# ringtrace test cluster (scripts/pg-server.sh)
local   all  $SUPERUSER                       trust
local   all  all                              scram-sha-256
host    all  ringtrace_md5    127.0.0.1/32    md5
host    all  ringtrace_clear  127.0.0.1/32    password
host    all  all              127.0.0.1/32    scram-sha-256
EOF
    as_pg tee -a "$DATA/postgresql.conf" >/dev/null <<EOF

# ringtrace test cluster (scripts/pg-server.sh)
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$SOCK'
password_encryption = 'scram-sha-256'
max_connections = 50
EOF
}

provision() {
    psql_su -d postgres <<EOF
SELECT 'CREATE ROLE ringtrace LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ringtrace') \gexec
SELECT 'CREATE ROLE ringtrace_md5 LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ringtrace_md5') \gexec
SELECT 'CREATE ROLE ringtrace_clear LOGIN' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ringtrace_clear') \gexec
SET password_encryption = 'scram-sha-256';
ALTER ROLE ringtrace PASSWORD '$PASSWORD';
ALTER ROLE ringtrace_clear PASSWORD '$PASSWORD';
SET password_encryption = 'md5';
ALTER ROLE ringtrace_md5 PASSWORD '$PASSWORD';
SELECT 'CREATE DATABASE ringtrace OWNER ringtrace' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'ringtrace') \gexec
GRANT ALL ON DATABASE ringtrace TO ringtrace_md5, ringtrace_clear;
EOF
    psql_su -d ringtrace -c "GRANT ALL ON SCHEMA public TO ringtrace_md5, ringtrace_clear;"
}

start() {
    init_cluster
    if ! running; then
        as_pg mkdir -p "$SOCK"
        as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null ||
            { tail -n 30 "$LOG" >&2; exit 1; }
    fi
    provision
}

stop() {
    if running; then
        as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >/dev/null
    fi
}

print_env() {
    echo "export TEST_RINGTRACE_PG='host=127.0.0.1 port=$PORT user=ringtrace password=$PASSWORD dbname=ringtrace'"
    echo "export TEST_RINGTRACE_PG_SOCKET='$SOCK'"
    echo "export TEST_RINGTRACE_PG_CTL='$ROOT/scripts/pg-server.sh'"
}

case "${1:-}" in
    start)
        start
        print_env
        ;;
    stop) stop ;;
    restart)
        stop
        start
        ;;
    env) print_env ;;
    destroy)
        stop
        rm -rf "$PGDIR"
        ;;
    *)
        echo "usage: $0 start|stop|restart|env|destroy" >&2
        exit 2
        ;;
esac
