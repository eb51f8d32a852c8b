#!/usr/bin/env bash
# One Jump Client out of contact with its appliance for a simulated day (waits compressed), printing
# its resident memory and CPU time across the day.
#
#   Benchmarks/offline.sh [DAYS] [COMPRESSION]      default: 1 1000
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product jump-bench-offline >&2
bin=$(swift build -c release --show-bin-path)
"$bin/jump-bench-offline" --days "${1:-1}" --compression "${2:-1000}"
