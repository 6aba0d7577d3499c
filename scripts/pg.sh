#!/usr/bin/env bash
# Throwaway PostgreSQL for tests.
#   scripts/pg.sh start DIR   initialises and starts a cluster with its data in DIR, listening
#                             only on 127.0.0.1 (free port) and on a socket inside DIR; prints
#                             `export DB_POSTGRES_*=...` lines on stdout (all else on stderr).
#   scripts/pg.sh stop DIR    stops it and removes DIR.
# Uses Debian's packages (/usr/lib/postgresql/<version>/bin, 15 preferred). Run as root, the
# server runs as the unprivileged user `postgres` (created when missing).
set -euo pipefail

die() {
    echo "pg.sh: $*" >&2
    exit 1
}
log() { echo "pg.sh: $*" >&2; }

find_bin() {
    if [ -n "${PG_BIN:-}" ]; then
        [ -x "$PG_BIN/initdb" ] || die "PG_BIN=$PG_BIN has no initdb"
        echo "$PG_BIN"
        return
    fi
    if [ -x /usr/lib/postgresql/15/bin/initdb ]; then
        echo /usr/lib/postgresql/15/bin
        return
    fi
    local d
    d=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin 2>/dev/null | sort -V | tail -n1)
    if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
        die "no PostgreSQL server binaries under /usr/lib/postgresql (install postgresql-15: scripts/deps.sh test)"
    fi
    echo "$d"
}

# as_pg CMD...: runs CMD as the server's OS user.
as_pg() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    elif command -v node >/dev/null 2>&1; then
        node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
    else
        echo $((20000 + RANDOM % 40000))
    fi
}

start() {
    local dir=$1 bin
    bin=$(find_bin)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    touch "$dir/.dlb-pg"
    # Unix socket paths are limited to 107 bytes.
    [ ${#dir} -le 80 ] || die "directory path too long for a Unix socket: $dir (use a shorter one, e.g. under /tmp)"

    if [ "$(id -u)" -eq 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            log "creating system user postgres"
            useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres >/dev/null 2>&1 ||
                die "cannot create the system user postgres"
        fi
        chown postgres: "$dir"
        as_pg test -w "$dir" || die "user postgres cannot write $dir (is a parent directory private?)"
    fi

    local pw db=dlbtest user=dlb
    pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    log "initdb in $dir/data ($bin)"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
        -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
        as_pg "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust \
            --auth-host=scram-sha-256 -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 ||
        { cat "$dir/initdb.log" >&2; die "initdb failed (log above)"; }

    local port="" _try
    for _try in 1 2 3 4 5; do
        port=$(free_port)
        as_pg sh -c "cat >> '$dir/data/postgresql.conf'" <<EOF
# scripts/pg.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
dynamic_shared_memory_type = mmap
log_min_messages = warning
EOF
        if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null 2>&1; then
            break
        fi
        if grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null; then
            log "port $port taken, trying another"
            port=""
            continue
        fi
        tail -n 20 "$dir/server.log" >&2 2>/dev/null || true
        die "PostgreSQL did not start (log above: $dir/server.log)"
    done
    [ -n "$port" ] || die "no free port found"
    echo "$port" >"$dir/port"

    local _wait
    for _wait in $(seq 1 60); do
        "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" && break
        sleep 0.5
    done
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || die "PostgreSQL on 127.0.0.1:$port is not ready after 30 s"

    as_pg "$bin/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 \
        -v user="$user" -v pw="$pw" -v db="$db" >/dev/null <<'SQL' || die "creating the test role and database failed"
CREATE ROLE :"user" LOGIN PASSWORD :'pw';
CREATE DATABASE :"db" OWNER :"user";
SQL
    log "PostgreSQL ready on 127.0.0.1:$port (database $db, user $user, data $dir)"
    echo "export DB_POSTGRES_HOST=127.0.0.1"
    echo "export DB_POSTGRES_PORT=$port"
    echo "export DB_POSTGRES_DB=$db"
    echo "export DB_POSTGRES_USER=$user"
    echo "export DB_POSTGRES_PASSWORD=$pw"
}

stop() {
    local dir=$1 bin
    [ -d "$dir" ] || { log "$dir does not exist"; return 0; }
    [ -f "$dir/.dlb-pg" ] || die "$dir was not created by pg.sh start; not removing it"
    bin=$(find_bin)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 ||
            as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 ||
            log "pg_ctl stop failed"
    fi
    rm -rf "$dir"
    log "stopped and removed $dir"
}

case "${1:-}" in
start)
    [ $# -eq 2 ] || die "usage: $0 start DIR"
    start "$2"
    ;;
stop)
    [ $# -eq 2 ] || die "usage: $0 stop DIR"
    stop "$2"
    ;;
*)
    die "usage: $0 start|stop DIR"
    ;;
esac
