#!/usr/bin/env bash
# Where the appliance's memory per idle client goes: jump-server runs under heaptrack while N simulated
# Jump Clients (jump-loadgen, the agent's own runtime) connect over mTLS; once they are idle it is
# stopped with SIGKILL, and the memory still allocated at that moment, less what a run without clients
# held, is printed per client, grouped by who allocated it (NIOSSL, BoringSSL, NIO, the appliance,
# SQLite) and by allocation site.
#
#   Benchmarks/heap.sh [--clients N] [--settle S] [--start-rate R] [--output FILE] [--no-build]
#
#   --clients      simulated clients (default 1000)
#   --settle       seconds to wait once all are connected (default 30)
#   --start-rate   new connections per second (default 100: heaptrack slows the appliance)
#   --output       the figures as JSON (default /tmp/heap-bench-DATE.json; the table beside it, .txt)
#
# The figures are bytes allocated, not resident: a buffer of 16 KiB or more is mapped on its own (the
# appliance's HeapTuning), and costs only the pages written; Benchmarks/scale.sh measures resident
# memory. What start-up allocates (the enrolled clients' records, which depend on how many the cache
# holds) is in both runs and cancels out. heaptrack is installed with apt when missing. Everything
# started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib/arguments.sh

clients=1000
settle=30
start_rate=100
output=/tmp/heap-bench-$(date +%Y%m%d-%H%M%S).json
cache=$enrollment_cache
per_process=5000
build=1
parse_options \
    --clients=clients \
    --settle=settle \
    --start-rate=start_rate \
    --output=output \
    --no-build:build=0 \
    -- "$@"
positive_numbers "--clients, --settle and --start-rate" "$clients" "$settle" "$start_rate"

# Seconds allowed beyond N/start-rate for all clients to connect.
connect_margin_s=120

. Benchmarks/lib/common.sh
. Benchmarks/lib/cache.sh
need_packages heaptrack python3
build_products jump-server jumpctl jump-loadgen
ulimit -n "$(ulimit -Hn)"
ensure_enrolled "$clients"

# The appliance under heaptrack: a jump-server of our own that starts the real one through it, writing
# to the file named in HEAPTRACK_FILE.
real=$(realpath "$bin/jump-server")
mkdir -p "$work/bin"
printf '#!/usr/bin/env bash\nexec heaptrack -o "$HEAPTRACK_FILE" %q "$@"\n' "$real" >"$work/bin/jump-server"
chmod +x "$work/bin/jump-server"
ln -s "$(realpath "$bin/jumpctl")" "$(realpath "$bin/jump-loadgen")" "$work/bin/"
bin=$work/bin

# One run: a fresh appliance on a copy of the cached data with COUNT clients connected (none: what it
# allocates at start, among it the enrolled clients' records), stopped with SIGKILL once they are idle;
# the allocations still live then, as heaptrack's stacks, in STACKS. Sets held.
#   heap_run COUNT STACKS
heap_run() {
    local count=$1 stacks=$2 data=$work/jump-data-$1 port
    rm -rf "$data"
    cp -a "$pristine" "$data"
    port=$(agent_port)
    export HEAPTRACK_FILE=$work/heap-$count
    start_appliance "$data" "$port" "$(free_port)"
    jumpctl settings set connection-rate 300 >/dev/null
    held=0
    if [ "$count" -gt 0 ]; then
        log "jump-server (under heaptrack): $count clients connecting"
        local processes=$(((count + per_process - 1) / per_process))
        start_loadgens heap "$count" run --server "127.0.0.1:$port" --every 5 --start-rate $((start_rate / processes))
        wait_sum held "$count" $((count / start_rate + connect_margin_s)) "${lg_files[@]}" || log "going on with the clients held"
    fi
    sleep "$settle"
    [ "$count" -eq 0 ] || held=$(json_sum held "${lg_files[@]}")
    [ "$count" -eq 0 ] || [ "$held" -ge 1 ] || die "no client connected; see $work/heap-*.log"
    # The program heaptrack started (its child), stopped where it is; heaptrack then writes its file.
    local program= p
    for p in $(descendants "$server_pid"); do
        [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$real" ] && program=$p
    done
    [ -n "$program" ] || die "the appliance under heaptrack is not running; see $work/jump-server.log"
    log "$held idle clients; stopping the appliance with SIGKILL"
    kill -KILL "$program"
    wait "$server_pid" 2>/dev/null || true
    [ "$count" -eq 0 ] || stop_loadgens
    local file
    file=$(compgen -G "$HEAPTRACK_FILE*.zst" | head -1 || true)
    [ -n "$file" ] || die "heaptrack wrote no file; see $work/jump-server.log"
    heaptrack_print -f "$file" --print-flamegraph "$stacks" --flamegraph-cost-type leaked >/dev/null
}

heap_run 0 "$work/stacks-0.txt"
heap_run "$clients" "$work/stacks.txt"

"$python" - "$work/stacks.txt" "$work/stacks-0.txt" "$held" "$output" <<'PY'
import collections, json, os, re, subprocess, sys
sys.path.insert(0, os.path.join("Benchmarks", "lib"))
from owners import owner
stacks, baseline, held, output = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

# Frames that only pass the request on: the allocators, the runtime, the standard library and
# Foundation, NIO's buffers and collections, SwiftProtobuf, BoringSSL's allocation helpers. The first
# frame from the leaf that is none of these names the site.
passing = re.compile(
    r"^(malloc|calloc|realloc|operator new|swift_|_swift|\$s[^0-9]|\$s20FoundationEssentials|\$s13SwiftProtobuf"
    r"|\$s7NIOCore(10ByteBuffer|14CircularBuffer|20MarkedCircularBuffer|19ByteBufferAllocator)"
    r"|CNIOBoringSSL_(OPENSSL_|CRYPTO_BUFFER|BUF_)|bssl::CNIOBoringSSL::(New<|MakeUnique<|Array<|Vector<)"
    r"|crypto_buffer_new|0x[0-9a-f]+$)")

# Bytes by site: those live with the clients less those live in the run without any (what start-up
# allocated, which depends on how many clients are enrolled, not on how many are connected).
by_owner = collections.Counter()
by_site = collections.Counter()
site_owner = {}
for path, sign in ((stacks, 1), (baseline, -1)):
    for line in open(path):
        stack, _, count = line.rstrip("\n").rpartition(" ")
        frames = [f.split(" (")[0] for f in stack.rstrip(";").split(";")]
        site = next((f for f in reversed(frames) if not passing.match(f)), frames[-1])
        by_owner[owner(site)] += sign * int(count)
        by_site[site] += sign * int(count)
        site_owner[site] = owner(site)

top = by_site.most_common(25)
names = subprocess.run(["swift", "demangle", "--simplified"], input="\n".join(s for s, _ in top),
                       capture_output=True, text=True).stdout.split("\n")
per = lambda total: total / held / 1024
rows = [{"site": name, "owner": site_owner[site], "KiBPerClient": round(per(total), 2)}
        for (site, total), name in zip(top, names)]
result = {"clients": held, "KiBPerClientByOwner": {k: round(per(v), 2) for k, v in by_owner.most_common()},
          "KiBPerClientTotal": round(per(sum(by_owner.values())), 2), "sites": rows}
json.dump(result, open(output, "w"), indent=2)
lines = ["memory allocated and not freed with %d idle clients, less the run without clients, per client (KiB; allocated, not resident)" % held, ""]
for name, kib in result["KiBPerClientByOwner"].items():
    lines.append("  %-16s %7.2f" % (name, kib))
lines.append("  %-16s %7.2f" % ("total", result["KiBPerClientTotal"]))
lines += ["", "the largest allocation sites:"]
for row in rows:
    lines.append("  %7.2f  %-14s %s" % (row["KiBPerClient"], row["owner"], row["site"][:110]))
text = "\n".join(lines)
print(text)
open(output.rsplit(".", 1)[0] + ".txt", "w").write(text + "\n")
PY
log "figures written to $output"
