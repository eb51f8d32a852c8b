#!/usr/bin/env bash
# Agent footprint: jump-agent enrolled in a throwaway appliance and running at a 60 s statistics
# interval (no thumbnail: no display here), beside prometheus-node-exporter (scraped every 60 s) and
# zabbix_agentd (passive checks, asked for one item every 60 s), all measured in the same run over the
# same window: resident memory (the median of readings a second apart at the end, all of a program's
# processes together), CPU per minute, and the size of the program file (stripped for jump-agent); and
# where the agent's resident memory is, by mapped file and permissions, and its CPU by thread name.
#
#   Benchmarks/footprint.sh [--window SECONDS] [--agent PROGRAM] [--output FILE] [--no-build]
#
#   --window   how long CPU is counted (default 120 s)
#   --agent    the jump-agent to measure (default the release build's; `make agent` builds the one
#              endpoints get, .build-agent/release/jump-agent)
#   --output   the figures as JSON (default /tmp/footprint-bench-DATE.json; the table beside it, .txt)
#
# prometheus-node-exporter and zabbix-agent are installed with apt when missing (their services are
# not started: each runs here in the foreground on a free loopback port). Everything started here is
# stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib/arguments.sh

window=120
output=/tmp/footprint-bench-$(date +%Y%m%d-%H%M%S).json
build=1
agent_program=
parse_options \
    --window=window \
    --output=output \
    --agent=agent_program \
    --no-build:build=0 \
    -- "$@"
[ -z "$agent_program" ] || agent_program=$(realpath "$agent_program")

# How often the peers are asked, as the appliance's statistics interval is set.
interval=60
# How long the enrolled agent may take to show as online.
agent_online_timeout_s=30

. Benchmarks/lib/common.sh
need_packages python3 prometheus-node-exporter zabbix-agent binutils
build_products jump-server jumpctl jump-agent

# A program's processes: PID and its children (zabbix_agentd forks its collectors and listeners); a
# child that ends meanwhile counts nothing.
tree() { echo "$1"; pgrep -P "$1" || true; }
tree_rss_kib() {
    local p
    for p in $(tree "$1"); do cat "/proc/$p/status" 2>/dev/null || true; done | awk '/^VmRSS:/ { s += $2 } END { print s + 0 }'
}
# CPU time from the scheduler's nanosecond counters of every thread (/proc/PID/stat counts 10 ms ticks,
# too coarse for an agent that uses a few milliseconds a minute).
tree_cpu_seconds() {
    local p
    for p in $(tree "$1"); do cat /proc/"$p"/task/*/schedstat 2>/dev/null || true; done |
        awk '{ s += $1 } END { printf "%.6f\n", s / 1e9 }'
}
# Each thread of a process as "TID NAME NANOSECONDS" (its schedstat run time so far; the name as the
# kernel keeps it, the last 15 characters of libdispatch's long queue names).
thread_cpu_lines() {
    local t
    for t in /proc/"$1"/task/*; do
        echo "$(basename "$t") $(tr ' ' '_' <"$t/comm" 2>/dev/null) $(cut -d' ' -f1 "$t/schedstat" 2>/dev/null)"
    done 2>/dev/null || true
}
# Anonymous resident memory (heap, stacks: what the program itself allocated, no shared libraries).
tree_anon_kib() {
    local p
    for p in $(tree "$1"); do cat "/proc/$p/status" 2>/dev/null || true; done | awk '/^RssAnon:/ { s += $2 } END { print s + 0 }'
}
# Resident memory of one process by what is mapped (a file's name, or [heap], [stack], [anonymous]) and
# the mapping's permissions, from the Rss and Anonymous lines of /proc/PID/smaps, as JSON: where an
# agent's memory is. A file's part is split by permissions (r-xp its code, r--p its read-only data,
# rw-p its writable data), and "anonymous" is the part of it that is private copies (pages the loader
# relocated or the program wrote), which a release of clean file pages cannot drop.
rss_by_mapping_json() {
    "$python" - "$1" <<'PY'
import json, os, re, sys
sizes = {}
key = None
for line in open("/proc/%s/smaps" % sys.argv[1]):
    if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
        fields = line.split(None, 5)
        path = fields[5].strip() if len(fields) > 5 else ""
        name = os.path.basename(path) if path.startswith("/") else (path or "[anonymous]")
        key = "%s %s" % (name, fields[1])
        sizes.setdefault(key, {"rssKiB": 0, "anonymousKiB": 0})
    elif line.startswith("Rss:"):
        sizes[key]["rssKiB"] += int(line.split()[1])
    elif line.startswith("Anonymous:"):
        sizes[key]["anonymousKiB"] += int(line.split()[1])
print(json.dumps(dict(sorted(sizes.items(), key=lambda item: -item[1]["rssKiB"]))))
PY
}
median_tree_rss_kib() {
    local values=()
    for _ in 1 2 3 4 5; do values+=("$(tree_rss_kib "$1")"); sleep 1; done
    printf '%s\n' "${values[@]}" | sort -n | sed -n 3p
}

# The appliance and the agent.
start_appliance "$work/data" "$(free_port)" "$(free_port)"
jumpctl settings set statistics-interval "$interval" >/dev/null
jumpctl installer create --group Default --expires 1h --allow-override name,install-dir \
    --output "$work/installer.json" >/dev/null
"${agent_program:-$bin/jump-agent}" install --installer "$work/installer.json" --install-dir "$work/agent" \
    --name footprint --no-service >/dev/null
"$work/agent/bin/jump-agent" run --log-level warning 2>>"$work/jump-agent.log" &
agent=$!
started "$agent"
deadline=$((SECONDS + agent_online_timeout_s))
until jumpctl client list --json | grep -q '"status" : "online"'; do
    [ "$SECONDS" -lt "$deadline" ] || die "the agent did not come online; see $work/jump-agent.log"
    sleep 0.5
done

# The peers, on free loopback ports.
exporter_port=$(free_port)
/usr/bin/prometheus-node-exporter --web.listen-address="127.0.0.1:$exporter_port" --log.level=error \
    2>>"$work/node-exporter.log" &
exporter=$!
started "$exporter"
# Zabbix takes ports 1024 to 32767 only, below the kernel's ephemeral range: try some at random.
zabbix_port=$("$python" -c '
import random, socket
for port in random.sample(range(20000, 32000), 200):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass
')
cat >"$work/zabbix_agentd.conf" <<CONF
PidFile=$work/zabbix_agentd.pid
LogFile=$work/zabbix_agentd.log
Server=127.0.0.1
ListenIP=127.0.0.1
ListenPort=$zabbix_port
StartAgents=3
AllowRoot=1
CONF
/usr/sbin/zabbix_agentd -f -c "$work/zabbix_agentd.conf" 2>>"$work/zabbix.log" &
zabbix=$!
started "$zabbix"
sleep 5

# Every interval: a Prometheus scrape and a Zabbix passive check, as their servers would.
ask_peers() {
    "$python" - "$exporter_port" "$zabbix_port" <<'PY' >/dev/null 2>&1 || true
import socket, struct, sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read()
key = b"system.cpu.load[all,avg1]"
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), 10)
s.sendall(b"ZBXD\x01" + struct.pack("<II", len(key), 0) + key)
s.recv(4096)
PY
}

ask_peers
agent_cpu0=$(tree_cpu_seconds "$agent")
thread_cpu_lines "$agent" >"$work/agent-threads-0"
exporter_cpu0=$(tree_cpu_seconds "$exporter")
zabbix_cpu0=$(tree_cpu_seconds "$zabbix")
log "measuring for $window s"
end=$((SECONDS + window))
while [ "$SECONDS" -lt "$end" ]; do
    sleep $((end - SECONDS < interval ? end - SECONDS : interval))
    [ "$SECONDS" -lt "$end" ] && ask_peers
done
agent_cpu1=$(tree_cpu_seconds "$agent")
thread_cpu_lines "$agent" >"$work/agent-threads-1"
exporter_cpu1=$(tree_cpu_seconds "$exporter")
zabbix_cpu1=$(tree_cpu_seconds "$zabbix")
agent_anon=$(tree_anon_kib "$agent")
exporter_anon=$(tree_anon_kib "$exporter")
zabbix_anon=$(tree_anon_kib "$zabbix")
agent_rss=$(median_tree_rss_kib "$agent")
agent_mappings=$(rss_by_mapping_json "$agent")
exporter_rss=$(median_tree_rss_kib "$exporter")
zabbix_rss=$(median_tree_rss_kib "$zabbix")
strip -o "$work/jump-agent.stripped" "${agent_program:-$bin/jump-agent}"
agent_size=$(stat -c %s "$work/jump-agent.stripped")
exporter_size=$(stat -c %s /usr/bin/prometheus-node-exporter)
zabbix_size=$(stat -c %s /usr/sbin/zabbix_agentd)

"$python" - "$output" "$window" "$work/agent-threads-0" "$work/agent-threads-1" <<PY
import json, sys
output, window = sys.argv[1], float(sys.argv[2])
def threads(path):
    found = {}
    for line in open(path):
        parts = line.split()
        if len(parts) == 3:
            found[parts[0]] = (parts[1], int(parts[2]))
    return found
before, after = threads(sys.argv[3]), threads(sys.argv[4])
by_thread = {}
for tid, (name, ns) in after.items():
    by_thread[name] = by_thread.get(name, 0) + ns - before.get(tid, (name, 0))[1]
by_thread = {name: round(ns / 1e6, 3) for name, ns in sorted(by_thread.items(), key=lambda item: -item[1])}
rows = [
    {"program": "jump-agent", "rssKiB": $agent_rss, "rssAnonKiB": $agent_anon, "cpuSeconds": $agent_cpu1 - $agent_cpu0, "bytes": $agent_size, "rssKiBByMapping": $agent_mappings},
    {"program": "prometheus-node-exporter", "rssKiB": $exporter_rss, "rssAnonKiB": $exporter_anon, "cpuSeconds": $exporter_cpu1 - $exporter_cpu0, "bytes": $exporter_size},
    {"program": "zabbix_agentd", "rssKiB": $zabbix_rss, "rssAnonKiB": $zabbix_anon, "cpuSeconds": $zabbix_cpu1 - $zabbix_cpu0, "bytes": $zabbix_size},
]
for row in rows:
    row["cpuMsPerMinute"] = round(row["cpuSeconds"] * 1000 * 60 / window, 1)
rows[0]["cpuMsByThreadName"] = by_thread
json.dump({"windowSeconds": window, "intervalSeconds": $interval, "results": rows}, open(output, "w"), indent=2)
lines = ["agent footprint over %.0f s, asked every %d s" % (window, $interval), ""]
lines.append("%-26s  %8s  %13s  %12s  %10s" % ("program", "RSS MiB", "anon RSS MiB", "CPU ms/min", "file MiB"))
for row in rows:
    lines.append("%-26s  %8.1f  %13.1f  %12.2f  %10.1f" % (row["program"], row["rssKiB"] / 1024, row["rssAnonKiB"] / 1024, row["cpuMsPerMinute"], row["bytes"] / 1048576))
lines.append("")
lines.append("jump-agent's CPU over the window by thread name (ms; threads that ended within it are not counted;")
lines.append("names ending -qos or -qos.overcommit are libdispatch's threads, NIO- the event loop, TP- the blocking work's):")
lines.append("  " + ", ".join("%s %.2f" % item for item in by_thread.items()))
lines.append("")
lines.append("jump-agent's resident memory by mapping and permissions (KiB, largest first; anonymous:")
lines.append("the part that is private copies, not the file's pages):")
lines.append("  %-40s %6s  %9s" % ("mapping", "RSS", "anonymous"))
mappings = list(rows[0]["rssKiBByMapping"].items())
shown = 16
for name, kib in mappings[:shown]:
    lines.append("  %-40s %6d  %9d" % (name, kib["rssKiB"], kib["anonymousKiB"]))
if len(mappings) > shown:
    rest = mappings[shown:]
    lines.append("  %-40s %6d  %9d" % ("the other %d" % len(rest), sum(k["rssKiB"] for _, k in rest), sum(k["anonymousKiB"] for _, k in rest)))
lines.append("")
lines.append("jump-agent's file is stripped; the release build links the Swift runtime dynamically (not counted); make agent's links it in.")
text = "\n".join(lines)
print(text)
open(output.rsplit(".", 1)[0] + ".txt", "w").write(text + "\n")
PY
log "figures written to $output"
