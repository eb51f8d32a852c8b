#!/usr/bin/env bash
# The fleet through an appliance outage: N agents in one process (the real reconnecting runtime),
# the appliance killed with SIGKILL and started again; prints how fast they all came back and the
# peak reconnections per second (the connection-rate setting caps it).
#
#   Benchmarks/reconnect.sh [AGENTS] [DOWN_SECONDS] [RATE]      default: 500 5 50
set -euo pipefail
cd "$(dirname "$0")/.."
for product in jump-server jumpctl jump-bench-reconnect; do swift build -c release --product "$product" >&2; done
bin=$(swift build -c release --show-bin-path)
"$bin/jump-bench-reconnect" --agents "${1:-500}" --down "${2:-5}" --rate "${3:-50}"
