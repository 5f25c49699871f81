#!/usr/bin/env bash
# Starts a throwaway PostgreSQL cluster for the tests: installed from the distribution's
# packages when missing, run as the unprivileged `postgres` user in a temporary folder on a
# free local port, with a password. Prints the admin URL for CAREBOT_TEST_POSTGRES on stdout;
# everything else goes to stderr. Stop it with: pg_ctl -D "$dir/data" stop (the folder is
# printed on stderr), or let the machine go.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$bin" ]; then
    echo "installing PostgreSQL from the distribution's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq postgresql >&2
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

user=postgres
id "$user" >/dev/null 2>&1 || useradd --system --no-create-home "$user"
dir=$(mktemp -d /tmp/carebot-pg.XXXXXX)
chown "$user" "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=carebot-ci

run() { (cd "$dir" && runuser -u "$user" -- "$@"); }
echo "$password" > "$dir/pw" && chown "$user" "$dir/pw"
run "$bin/initdb" -D "$dir/data" -U carebot --pwfile="$dir/pw" -A scram-sha-256 >/dev/null
run "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c fsync=off -c max_connections=300" \
    start >&2
echo "PostgreSQL running in $dir on port $port" >&2
echo "postgres://carebot:$password@127.0.0.1:$port/postgres"
