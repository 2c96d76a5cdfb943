# Sourced by scripts/test and scripts/bench: installs Debian's nats-server
# once when it is missing, starts a throwaway one with JetStream (a
# temporary store directory, a free loopback port) that is stopped and
# removed when the sourcing script exits, and exports its URL as
# RULEHOST_TEST_NATS_URL.

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
    echo "installing Debian's nats-server" >&2
    rulehost_nats_sudo=""
    if [ "$(id -u)" != 0 ]; then rulehost_nats_sudo="sudo"; fi
    $rulehost_nats_sudo apt-get update -qq
    $rulehost_nats_sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nats-server >/dev/null
fi
nats_bin=$(command -v nats-server || echo /usr/sbin/nats-server)
nats_dir=$(mktemp -d /tmp/rulehost-nats.XXXXXX)
nats_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$nats_bin" -js -sd "$nats_dir/store" -a 127.0.0.1 -p "$nats_port" -l "$nats_dir/log" &
nats_pid=$!
stop_nats() {
    kill "$nats_pid" 2>/dev/null || true
    wait "$nats_pid" 2>/dev/null || true
    rm -rf "$nats_dir"
}
rulehost_at_exit stop_nats
for _ in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $nats_port), 0.2)" 2>/dev/null; then
        break
    fi
    sleep 0.1
done
export RULEHOST_TEST_NATS_URL="nats://127.0.0.1:$nats_port"
