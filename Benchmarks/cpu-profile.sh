#!/usr/bin/env bash
# Where the appliance's CPU goes under a benchmark's load: runs Benchmarks/steady.sh (the statistics of
# N clients) or Benchmarks/handshake.sh (agents reconnecting as fast as they can), samples jump-server
# with perf during that script's measured window, and prints the samples grouped: by what ran (the
# kernel, BoringSSL, NIOSSL, NIO, allocation and reference counting, SwiftProtobuf, the appliance,
# SQLite), by the work they were part of (the named function nearest each sample's leaf: writing to a
# socket, decrypting, ClientHub.ingest, the statistics writer, ...), and BoringSSL's part by primitive.
#
#   Benchmarks/cpu-profile.sh [--handshake [--tls full|resumed]] [--clients N] [--seconds S] [--frequency HZ]
#                             [--of server|loadgen] [--loadgen-coalescing-ms N] [--on-stack REGEX]...
#                             [--output FILE] [--no-build]
#   Benchmarks/cpu-profile.sh --stacks FILE [--on-stack REGEX]... [--output FILE]
#
#   (default)      under steady.sh with --clients N (default 5,000), without its API check or the peers
#   --handshake    under handshake.sh --no-peers instead
#   --tls          with --handshake: the agents resuming their sessions as jump-agent does (resumed,
#                  the default) or every connection a full handshake (full)
#   --seconds      how long perf samples (default 20); the benchmark's window is made that long and
#                  10 s more, and sampling starts 2 s into it
#   --frequency    samples a second (default 499)
#   --of           whose CPU: the appliance's (server, the default) or the load generator processes'
#                  together (loadgen: the simulated agents, which share the appliance's cores)
#   --loadgen-coalescing-ms  for steady.sh: how long its load generators' loops gather I/O (its own
#                  option and default, 2; 0 is how every profile before session 24 ran)
#   --on-stack     also print the share of samples with a function matching REGEX (a mangled Swift
#                  name, as perf prints it) anywhere on their stack; may be given more than once
#   --stacks       group the samples of an earlier run's .stacks.txt instead of running anything
#   --output       the figures as JSON (default /tmp/cpu-profile-DATE.json; the table beside it, .txt,
#                  and the samples' stacks as perf script printed them, .stacks.txt)
#
# perf (Debian: linux-perf) is installed with apt when missing. perf samples time on the CPU only. The
# load generators run on the same cores as the appliance; on loopback, the kernel's receive work for
# the other end of a socket is done in the sender's system call and counted there. The benchmark's own
# figures are printed too, and are lower while perf samples. Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
. Benchmarks/lib/arguments.sh

mode=steady
tls=resumed
of=server
clients=
seconds=20
frequency=499
output=/tmp/cpu-profile-$(date +%Y%m%d-%H%M%S).json
stacks_in=
on_stack=()
loadgen_coalescing=
build=1
parse_options \
    --handshake:mode=handshake \
    --tls=tls \
    --clients=clients \
    --seconds=seconds \
    --frequency=frequency \
    --of=of \
    --loadgen-coalescing-ms=loadgen_coalescing \
    "--on-stack=on_stack[]" \
    --stacks=stacks_in \
    --output=output \
    --no-build:build=0 \
    -- "$@"
[ "$mode" = steady ] || [ -z "$clients" ] || usage_error "--clients is for steady.sh; handshake.sh churns its own agents"
clients=${clients:-5000}
[ -z "$loadgen_coalescing" ] || [ "$mode" = steady ] || usage_error "--loadgen-coalescing-ms is for steady.sh; handshake.sh's agents never gather"
[ -z "$loadgen_coalescing" ] || whole_numbers "--loadgen-coalescing-ms" "$loadgen_coalescing"
positive_numbers "--clients, --seconds and --frequency" "$clients" "$seconds" "$frequency"
case "$of" in server) process=jump-server ;; loadgen) process=jump-loadgen ;; *) usage_error "--of is server or loadgen" ;; esac

if [ -n "$stacks_in" ]; then
    [ -r "$stacks_in" ] || usage_error "cannot read $stacks_in"
    exec "${PYTHON:-python3}" Benchmarks/lib/profile_stacks.py "$stacks_in" "$output" "from $stacks_in" --process "$process" \
        "${on_stack[@]/#/--on-stack=}"
fi

# How long the benchmark may take to reach its measured window.
window_timeout_s=900
# Seconds into the window before perf starts (handshake.sh announces its churn as it starts it).
sampling_delay_s=2

. Benchmarks/lib/common.sh
need_packages linux-perf python3
build_products jump-server jumpctl jump-loadgen

# The benchmark runs in a process group of its own, so that leaving early stops its appliance and load
# generators too (its own trap runs only once its current sleep ends).
benchmark=
stop_benchmark() {
    [ -n "$benchmark" ] || return 0
    kill -TERM -- "-$benchmark" 2>/dev/null || true
    for _ in $(seq $((stop_timeout_s * 10))); do kill -0 "$benchmark" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$benchmark" 2>/dev/null || true
    wait "$benchmark" 2>/dev/null || true
}
trap 'stop_benchmark; cleanup' EXIT

benchmark_log=$work/benchmark.log
window=$((seconds + sampling_delay_s + 8))
if [ "$mode" = steady ]; then
    JUMP_BENCH_BIN=$bin setsid Benchmarks/steady.sh --no-build --no-verify --no-peers --clients "$clients" --window "$window" \
        ${loadgen_coalescing:+--loadgen-coalescing-ms "$loadgen_coalescing"} --output "$work/steady.json" >"$benchmark_log" 2>&1 &
    marker="steady.sh: measuring"
else
    JUMP_BENCH_BIN=$bin setsid Benchmarks/handshake.sh --no-build --no-peers --tls "$tls" --duration "$window" \
        --output "$work/handshake.json" >"$benchmark_log" 2>&1 &
    marker="churning for"
fi
benchmark=$!
log "running Benchmarks/$mode.sh (its output: $benchmark_log)"
deadline=$((SECONDS + window_timeout_s))
until grep -q "$marker" "$benchmark_log"; do
    kill -0 "$benchmark" 2>/dev/null || { tail -20 "$benchmark_log" >&2; die "Benchmarks/$mode.sh stopped before its window"; }
    [ "$SECONDS" -lt "$deadline" ] || die "Benchmarks/$mode.sh did not reach its window within $window_timeout_s s"
    sleep 0.5
done

# The processes sampled: the benchmark's jump-server, or its jump-loadgen processes, among its descendants.
real=$(realpath "$bin/$process")
sampled=
for p in $(descendants "$benchmark"); do
    [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$real" ] && sampled=${sampled:+$sampled,}$p
done
[ -n "$sampled" ] || die "no $process found under Benchmarks/$mode.sh"
sleep "$sampling_delay_s"
log "sampling $process ($sampled) for $seconds s at $frequency Hz"
perf record -q -F "$frequency" -g -p "$sampled" -o "$work/perf.data" -- sleep "$seconds" 2>"$work/perf.log" ||
    { cat "$work/perf.log" >&2; die "perf record failed (kernel.perf_event_paranoid is $(cat /proc/sys/kernel/perf_event_paranoid))"; }
wait "$benchmark" || log "Benchmarks/$mode.sh failed; see the end of its output below"
benchmark=
stacks=${output%.json}.stacks.txt
perf script -i "$work/perf.data" -F ip,sym,dso 2>"$work/perf.log" >"$stacks" ||
    { cat "$work/perf.log" >&2; die "perf script failed"; }
"$python" Benchmarks/lib/profile_stacks.py "$stacks" "$output" "under $mode.sh" --log "$benchmark_log" --process "$process" \
    "${on_stack[@]/#/--on-stack=}"
log "figures written to $output"
