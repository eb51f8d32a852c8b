#!/usr/bin/env bash
# Memory per idle client: the appliance's resident memory with N Jump Clients connected over mTLS
# (simulated by jump-loadgen with the agent's own runtime), divided per client, before and after
# each client sent one 30 KB thumbnail; then mosquitto and nats-server holding the same number of
# idle TLS 1.3 connections with client certificates (jump-loadgen hold), in the same run. Prints a
# table with KiB per client and the ratios, and writes the figures to a file.
#
#   Benchmarks/scale.sh [--full] [--counts "N ..."] [--interval S] [--output FILE] [--cache DIR]
#                       [--per-process N] [--settle S] [--no-peers] [--no-build]
#
#   (default)      counts 300 1000, statistics interval 10 s: a few minutes (make bench)
#   --full         counts 1000 5000 19000, statistics interval 60 s
#   --counts       the client counts (each a fresh appliance process on a copy of the cached data)
#   --interval     the appliance's statistics-interval during the run (10 to 3600)
#   --output       the figures as JSON (default /tmp/scale-bench-DATE.json; the table beside it, .txt)
#   --cache        where enrolled agents and the appliance data they belong to are kept between runs
#                  (default ~/.cache/jump-loadgen/scale); more are enrolled when a count needs them
#   --per-process  simulated clients per jump-loadgen process (each has its own 127.0.0.x source)
#   --settle       seconds to wait after the clients are connected, and after the thumbnails, before
#                  the memory is read (the median of 5 readings of VmRSS, one second apart)
#   --start-rate   new connections per second from all simulated clients together (default: the
#                  appliance's rate less 10); lower on a busy machine, see docs/performance.md
#   --no-peers     measure the appliance only
#   --no-jump      measure mosquitto and nats-server only
#
# KiB per client = (VmRSS with N clients - VmRSS of the same process before any client) / N held. The
# appliance runs with connection-rate 300 (its maximum), so N clients take N/300 s to come in. The
# appliance is one process: with at most 20,000 open files, 19,000 clients is the most it can hold.
# Everything started here is stopped on exit. mosquitto, nats-server and openssl are installed with
# apt when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib/arguments.sh

counts="300 1000"
interval=10
output=/tmp/scale-bench-$(date +%Y%m%d-%H%M%S).json
cache=$enrollment_cache
per_process=5000
start_rate=
settle=10
peers=1
jump=1
build=1
parse_options \
    "--full:counts=1000 5000 19000" \
    --full:interval=60 \
    --counts=counts \
    --interval=interval \
    --output=output \
    --cache=cache \
    --per-process=per_process \
    --settle=settle \
    --start-rate=start_rate \
    --no-peers:peers=0 \
    --no-jump:jump=0 \
    --no-build:build=0 \
    -- "$@"

# How fast the appliance admits new connections during the run (its maximum setting).
connection_rate=300
# New connections per second to mosquitto and nats-server (as fast as the appliance admits them).
peer_rate=300
# Seconds allowed beyond N/connection_rate for all clients to connect.
connect_margin_s=120

. Benchmarks/lib/common.sh
. Benchmarks/lib/cache.sh
need_packages openssl python3
[ "$peers" -eq 1 ] && need_packages mosquitto nats-server
build_products jump-server jumpctl jump-loadgen
ulimit -n "$(ulimit -Hn)"
max_count=$(printf '%s\n' $counts | sort -n | tail -1)
[ "$max_count" -le $(($(ulimit -n) - 200)) ] ||
    die "the appliance can hold at most $(($(ulimit -n) - 200)) clients with an open-file limit of $(ulimit -n)"

ensure_enrolled "$max_count"

# One JSON object per measurement, a line each, kept as they come (a later failure keeps them).
results=$output.partial
mkdir -p "$(dirname "$output")"
: >"$results"
record() { echo "$1" >>"$results"; }

# --- The appliance.
measure_jump() {
    local n=$1 data=$work/jump-data-$1
    rm -rf "$data"
    cp -a "$pristine" "$data"
    local port
    port=$(agent_port)
    start_appliance "$data" "$port" "$(free_port)"
    jumpctl settings set connection-rate "$connection_rate" >/dev/null
    jumpctl settings set statistics-interval "$interval" >/dev/null
    sleep 3
    local base
    base=$(rss_median_kib "$server_pid" 3)
    local cpu0
    cpu0=$(cpu_seconds "$server_pid")
    log "jump-server: $n clients connecting (baseline ${base} KiB)"
    # Started no faster than the appliance admits them: an agent waiting in the listen queue longer
    # than its hello time-out (10 s, counted from the TCP connect) gives up, and the appliance later
    # spends an admission on the dead connection.
    local processes=$(((n + per_process - 1) / per_process))
    start_loadgens jump "$n" run --server "127.0.0.1:$port" --every 5 \
        --start-rate $(((${start_rate:-$((connection_rate - 10))}) / processes))
    wait_sum held "$n" $((n / connection_rate + connect_margin_s)) "${lg_files[@]}" || log "jump-server: going on with the clients held"
    sleep "$settle"
    local idle fds
    idle=$(rss_median_kib "$server_pid" 5)
    fds=$(fd_count "$server_pid")
    # Memory mappings (the kernel's limit is vm.max_map_count): see HeapTuning in the appliance.
    local maps maps_after
    maps=$(wc -l <"/proc/$server_pid/maps")
    log "jump-server: $n idle clients: ${idle} KiB; sending one thumbnail each"
    kill -USR1 "${lg_pids[@]}"
    wait_sum thumbnailsAcked "$n" $((interval + connect_margin_s)) "${lg_files[@]}" || log "jump-server: not every thumbnail was acknowledged"
    sleep "$settle"
    local thumbs
    thumbs=$(rss_median_kib "$server_pid" 5)
    maps_after=$(wc -l <"/proc/$server_pid/maps")
    local cpu1 held failures
    cpu1=$(cpu_seconds "$server_pid")
    held=$(json_sum held "${lg_files[@]}")
    failures=$(json_sum connectFailures "${lg_files[@]}")
    stop_loadgens
    stop_pid "$server_pid"
    record "{\"server\": \"jump-server\", \"clients\": $n, \"baselineKiB\": $base, \"idleKiB\": $idle, \"afterThumbnailKiB\": $thumbs, \"fds\": $fds, \"maps\": $maps, \"mapsAfterThumbnail\": $maps_after, \"held\": $held, \"connectFailures\": $failures, \"serverCPUSeconds\": $(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN { printf "%.2f", b - a }')}"
}

# --- mosquitto and nats-server with throwaway certificates (P-256, as the appliance uses).
measure_peer() {
    local name=$1 n=$2 port pid
    port=$(free_port)
    local pki=$work/pki
    start_peer "$name" "$port" "$pki"
    pid=$peer_pid
    sleep 2
    local base
    base=$(rss_median_kib "$pid" 3)
    local protocol
    protocol=$(peer_protocol "$name")
    log "$name: $n clients connecting (baseline ${base} KiB)"
    local processes=$(((n + per_process - 1) / per_process))
    start_loadgens "$name" "$n" hold --tls "127.0.0.1:$port" --protocol "$protocol" --rate $((peer_rate / processes)) \
        --ca "$pki/ca.pem" --cert "$pki/client.pem" --key "$pki/client.key" --every 5
    # A few refused handshakes are not retried: the figure is per connection actually held.
    wait_sum held "$n" $((n / peer_rate + connect_margin_s)) "${lg_files[@]}" || log "$name: going on with the connections held"
    sleep "$settle"
    local idle held failures
    idle=$(rss_median_kib "$pid" 5)
    held=$(json_sum held "${lg_files[@]}")
    failures=$(json_sum connectFailures "${lg_files[@]}")
    stop_loadgens
    stop_pid "$pid"
    record "{\"server\": \"$name\", \"clients\": $n, \"held\": $held, \"connectFailures\": $failures, \"baselineKiB\": $base, \"idleKiB\": $idle}"
}

[ "$peers" -eq 1 ] && peer_pki "$work/pki"
for n in $counts; do
    [ "$jump" -eq 1 ] && measure_jump "$n"
    if [ "$peers" -eq 1 ]; then
        measure_peer mosquitto "$n"
        measure_peer nats-server "$n"
    fi
done

# --- The table and the file.
machine="{\"cores\": $(nproc), \"memoryKiB\": $(awk '/^MemTotal:/ { print $2 }' /proc/meminfo), \"kernel\": \"$(uname -r)\", \"swift\": \"$(swift --version 2>&1 | head -1 | sed 's/"/\\"/g')\", \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"statisticsInterval\": $interval}"
cat "$results" | "$python" -c '
import json, sys
machine = json.loads(sys.argv[1])
rows = [json.loads(line) for line in sys.stdin if line.strip()]
def per(row, key):
    return (row[key] - row["baselineKiB"]) / max(row.get("held") or row["clients"], 1)
for row in rows:
    row["idleKiBPerClient"] = round(per(row, "idleKiB"), 2)
    if "afterThumbnailKiB" in row:
        row["afterThumbnailKiBPerClient"] = round(per(row, "afterThumbnailKiB"), 2)
json.dump({"machine": machine, "results": rows}, open(sys.argv[2], "w"), indent=2)
lines = ["memory per idle mTLS client (KiB; (VmRSS with N - VmRSS before) / N)", ""]
lines.append("%8s  %12s  %16s  %10s  %12s  %14s  %16s" % ("clients", "jump idle", "jump +thumbnail", "mosquitto", "nats-server", "jump/mosquitto", "jump/nats-server"))
for n in sorted({row["clients"] for row in rows}):
    get = lambda name, key: next((row.get(key) for row in rows if row["server"] == name and row["clients"] == n), None)
    jump, thumb = get("jump-server", "idleKiBPerClient"), get("jump-server", "afterThumbnailKiBPerClient")
    mosq, nats = get("mosquitto", "idleKiBPerClient"), get("nats-server", "idleKiBPerClient")
    fmt = lambda v: "-" if v is None else "%.1f" % v
    ratio = lambda a, b: "-" if a is None or not b else "%.2f" % (a / b)
    lines.append("%8d  %12s  %16s  %10s  %12s  %14s  %16s" % (n, fmt(jump), fmt(thumb), fmt(mosq), fmt(nats), ratio(jump, mosq), ratio(jump, nats)))
lines.append("")
lines.append("machine: %(cores)d cores, %(memoryKiB)d KiB, kernel %(kernel)s; statistics interval %(statisticsInterval)d s" % machine)
text = "\n".join(lines)
print(text)
open(sys.argv[2].rsplit(".", 1)[0] + ".txt", "w").write(text + "\n")
' "$machine" "$output"
rm -f "$results"
log "figures written to $output"
