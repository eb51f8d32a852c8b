#!/usr/bin/env bash
# Measures the appliance's admission control: starts jump-server in a temporary data directory, sets
# the global connection rate, opens N TLS connections at once and reports the rate of completed
# handshakes (it must be the configured rate within 10%).
#
#   Benchmarks/admission.sh [RATE] [CONNECTIONS]      default: 50 1000
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-50}
connections=${2:-1000}

for product in jump-server jumpctl jump-bench-admission; do swift build -c release --product "$product" >&2; done
bin=$(swift build -c release --show-bin-path)
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/jump-server" run --data-dir "$work/data" --agent-listen 127.0.0.1:17443 --api-listen 127.0.0.1:18443 \
    --log-level warning &
server=$!
for _ in $(seq 100); do [ -s "$work/data/initial-admin-password" ] && break; sleep 0.1; done
export XDG_CONFIG_HOME="$work/config"
for _ in $(seq 50); do
    "$bin/jumpctl" login --server https://127.0.0.1:18443 --user admin --ca "$work/data/ca.pem" \
        < "$work/data/initial-admin-password" >/dev/null 2>&1 && break
    sleep 0.2
done
"$bin/jumpctl" settings set connection-rate "$rate"
"$bin/jump-bench-admission" --server 127.0.0.1:17443 --ca "$work/data/ca.pem" \
    --connections "$connections" --expected-rate "$rate"
