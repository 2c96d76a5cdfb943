# Sourced by scripts/test and scripts/bench: installs Debian's postgresql
# once when it is missing, starts a throwaway cluster (a temporary
# directory, a free loopback port) that is stopped and removed when the
# sourcing script exits, and exports its URL as RULEHOST_TEST_DATABASE_URL.
#
# As root the cluster runs as the `postgres` user (initdb refuses root).
# fsync is off: the tests kill hosts, never the database, and a host's
# durability is PostgreSQL's commit, which fsync does not change.

rulehost_pg_sudo=""
if [ "$(id -u)" != 0 ]; then rulehost_pg_sudo="sudo"; fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "installing Debian's postgresql" >&2
    $rulehost_pg_sudo apt-get update -qq
    $rulehost_pg_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pg_dir=$(mktemp -d /tmp/rulehost-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$pg_dir"
    as_pg=(runuser -u postgres --)
fi
stop_pg() {
    "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pg_dir"
}
rulehost_at_exit stop_pg
pg_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_pg[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust -E UTF8 --no-sync >/dev/null
"${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w -o \
    "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=500" start >/dev/null
export RULEHOST_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$pg_port/postgres"
