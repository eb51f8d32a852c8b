#!/usr/bin/env bash
# `make demo`: shows the three programs. Later stages start the appliance and an agent here.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(swift build --show-bin-path)
for program in jump-server jump-agent jumpctl; do
    printf '%-12s %s\n' "$program" "$("$bin/$program" --version)"
done
