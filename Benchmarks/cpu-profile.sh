#!/usr/bin/env bash
# Where the appliance's CPU goes under a benchmark's load: runs Benchmarks/steady.sh (the statistics of
# N clients) or Benchmarks/handshake.sh (agents reconnecting as fast as they can), samples jump-server
# with perf once that script starts its measured window, and prints the samples grouped two ways:
# by what ran (the kernel, BoringSSL, NIOSSL, NIO, allocation and reference counting, SwiftProtobuf,
# the appliance, SQLite) and by the work they were part of (the named function nearest the leaf of the
# sample's stack: waiting in epoll, writing to a socket, decrypting, ClientHub.ingest, the statistics
# writer, ...).
#
#   Benchmarks/cpu-profile.sh [--handshake] [--clients N] [--seconds S] [--frequency HZ]
#                             [--output FILE] [--no-build]
#
#   (default)      under steady.sh with --clients N (default 5,000) and no API check
#   --handshake    under handshake.sh --no-peers instead
#   --seconds      how long perf samples (default 20; steady.sh's window is 60 s, handshake.sh's 20 s)
#   --frequency    samples a second (default 499)
#   --output       the figures as JSON (default /tmp/cpu-profile-DATE.json; the table beside it, .txt,
#                  and the samples' stacks as perf script printed them, .stacks.txt)
#
# perf (Debian: linux-perf) is installed with apt when missing. The load generators run on the same
# cores as the appliance; on loopback, the kernel's receive work for the other end of a socket is done
# in the sender's system call and counted there. The benchmark's own figures are printed too, and are
# lower while perf samples. Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=steady
clients=5000
seconds=20
frequency=499
output=/tmp/cpu-profile-$(date +%Y%m%d-%H%M%S).json
build=1
while [ $# -gt 0 ]; do
    case $1 in
        --handshake) mode=handshake ;;
        --clients) clients=$2; shift ;;
        --seconds) seconds=$2; shift ;;
        --frequency) frequency=$2; shift ;;
        --output) output=$2; shift ;;
        --no-build) build=0 ;;
        -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "cpu-profile.sh: unknown argument $1 (see --help)" >&2; exit 64 ;;
    esac
    shift
done
for value in "$clients" "$seconds" "$frequency"; do
    [[ $value =~ ^[0-9]+$ && $value -ge 1 ]] || { echo "cpu-profile.sh: --clients, --seconds and --frequency take positive numbers" >&2; exit 64; }
done

# How long the benchmark may take to reach its measured window.
window_timeout_s=900

. Benchmarks/lib/common.sh
need_packages linux-perf python3
build_products jump-server jumpctl jump-loadgen

# The benchmark, its output in a file we watch for the start of its window.
benchmark_log=$work/benchmark.log
if [ "$mode" = steady ]; then
    JUMP_BENCH_BIN=$bin Benchmarks/steady.sh --no-build --no-verify --clients "$clients" \
        --output "$work/steady.json" >"$benchmark_log" 2>&1 &
    marker="steady.sh: measuring"
else
    JUMP_BENCH_BIN=$bin Benchmarks/handshake.sh --no-build --no-peers --output "$work/handshake.json" \
        >"$benchmark_log" 2>&1 &
    marker="churning for"
fi
benchmark=$!
started "$benchmark"
log "running Benchmarks/$mode.sh; its output: $benchmark_log"
deadline=$((SECONDS + window_timeout_s))
until grep -q "$marker" "$benchmark_log"; do
    kill -0 "$benchmark" 2>/dev/null || { cat "$benchmark_log" >&2; die "Benchmarks/$mode.sh stopped before its window"; }
    [ "$SECONDS" -lt "$deadline" ] || die "Benchmarks/$mode.sh did not reach its window within $window_timeout_s s"
    sleep 0.5
done

# The benchmark's appliance: the jump-server among its descendants.
descendants() { local child; for child in $(pgrep -P "$1"); do echo "$child"; descendants "$child"; done; }
server=
for p in $(descendants "$benchmark"); do
    [ "$(readlink "/proc/$p/exe" 2>/dev/null)" = "$(realpath "$bin/jump-server")" ] && server=$p
done
[ -n "$server" ] || die "no jump-server found under Benchmarks/$mode.sh"
log "sampling jump-server ($server) for $seconds s at $frequency Hz"
perf record -q -F "$frequency" -g -p "$server" -o "$work/perf.data" -- sleep "$seconds" 2>>"$work/perf.log"
wait "$benchmark" || log "Benchmarks/$mode.sh failed; see $benchmark_log"
stacks=${output%.json}.stacks.txt
perf script -i "$work/perf.data" -F ip,sym,dso 2>/dev/null >"$stacks"

"$python" - "$stacks" "$output" "$mode" "$benchmark_log" <<'PY'
import collections, json, re, sys
source, output, mode, benchmark_log = sys.argv[1:5]

# One sample: a blank line, then its frames from the leaf, each "ADDRESS SYMBOL+OFFSET (DSO)".
samples = []
frames = []
for line in open(source, errors="replace"):
    line = line.strip()
    if not line:
        if frames: samples.append(frames)
        frames = []
        continue
    parts = line.split(None, 1)
    if len(parts) < 2: continue
    rest = parts[1]
    dso = rest[rest.rfind("(") + 1:-1] if rest.endswith(")") else ""
    symbol = re.sub(r"\+0x[0-9a-f]+$", "", rest[:rest.rfind(" (")] if " (" in rest else rest)
    frames.append((symbol, dso))
if frames: samples.append(frames)
if not samples:
    sys.exit("no samples: is perf allowed here (kernel.perf_event_paranoid)?")

# BoringSSL's assembly routines (elliptic curves, ML-KEM, hashes, AES-GCM) carry no prefix and keep no
# frame pointer: a sample in one has no call stack above it.
boringssl_assembly = re.compile(r"nistz256|beeu_mod_inverse|x25519|fiat_|mlkem|keccak|sha(1|256|512)_block|aes_hw|aesni|gcm_|ghash|^bn_(mul|sqr)")

def what_ran(symbol, dso):
    if "kernel" in dso or dso.startswith("["): return "the kernel"
    if "CNIOBoringSSL" in symbol or "bssl::" in symbol or boringssl_assembly.search(symbol): return "BoringSSL"
    if "6NIOSSL" in symbol: return "NIOSSL"
    if re.search(r"swift_(retain|release|allocObject|deallocObject|deallocClassInstance|slowAlloc|slowDealloc|bridgeObject|unknownObject|isUniquely|beginAccess|endAccess)|^(malloc|free|calloc|realloc|cfree|_int_malloc|_int_free|malloc_consolidate|__libc_malloc|__libc_free|__GI___libc_malloc|__GI___libc_free|tcache)", symbol):
        return "allocation, reference counting, exclusivity checks"
    if "13SwiftProtobuf" in symbol: return "SwiftProtobuf"
    if re.search(r"\$s\d+(JumpServerCore|JumpProtocol|JumpTLS|JumpStore|JumpPolicy|jump_server)", symbol): return "the appliance"
    if "sqlite3" in symbol or "4GRDB" in symbol: return "SQLite (GRDB)"
    if "7NIOCore" in symbol or "8NIOPosix" in symbol or "NIOPosix" in dso: return "NIO"
    if "libswiftCore" in dso or symbol.startswith("$ss") or symbol.startswith("swift_"): return "the Swift standard library and runtime"
    if "Foundation" in dso or "20FoundationEssentials" in symbol: return "Foundation"
    if "libdispatch" in dso or "swift_Concurrency" in dso or "libswift_Concurrency" in dso: return "Dispatch and Swift concurrency"
    if "libc.so" in dso: return "libc"
    return "other"

# The work a sample was part of: the named function nearest its leaf. A sample inside the write system
# call that sends an acknowledgement counts as writing, one in the protobuf decoder as decoding, one
# in the connection handler's own code (not in anything named below it) as that handler.
work = [
    ("epoll_wait (waiting for events)", r"epoll_wait"),
    ("accepting connections", r"accept4?$|ServerSocketChannel.*readFromSocket"),
    ("closing connections", r"(__close|^close|sys_close)$|close_fd|tcp_close"),
    ("writing to sockets (write, writev)", r"(__libc_write|^write|writev|__write|sys_write)$|sendmsg"),
    ("reading sockets (read)", r"(__libc_read|^read|readv|__read|sys_read)$|recvmsg"),
    ("the TLS handshake", r"SSL_do_handshake|tls13_server_handshake|ssl_run_handshake"),
    ("decrypting (SSL_read)", r"SSL_read"),
    ("encrypting (SSL_write)", r"SSL_write"),
    ("the statistics writer", r"flushStats|saveStats"),
    ("ClientHub.ingest", r"ClientHub.*ingest"),
    ("ClientHub: admission (Hello, Welcome)", r"ClientHub.*admit"),
    ("decoding messages (protobuf)", r"decodeMessage|13SwiftProtobuf.*Decoder"),
    ("encoding messages (protobuf)", r"serializedBytes|13SwiftProtobuf.*Encoder|traverse"),
    ("the frame decoder", r"FrameDecodingHandler|FrameParser"),
    ("the connection handler and state machine", r"ServerConnectionHandler|ServerConnectionStateMachine|ConnectionOutput|InboundEvent"),
    ("NIOSSL's handler", r"6NIOSSL"),
    ("scheduling timers", r"scheduleTask|_prepareToSchedule|PriorityQueue"),
    ("NIO's event loop", r"SelectableEventLoop|8NIOPosix"),
]
compiled = [(label, re.compile(pattern)) for label, pattern in work]
by_what = collections.Counter(what_ran(*s[0]) for s in samples)
by_work = collections.Counter()
for s in samples:
    fallback = "cryptography (BoringSSL's assembly: no call stack)" if boringssl_assembly.search(s[0][0]) else "other"
    label = next((label for name, _ in s for label, pattern in compiled if pattern.search(name)), fallback)
    by_work[label] += 1

# The cryptographic primitives, by the leaf's name.
primitives = [("P-256 (ECDSA signatures)", r"nistz256|beeu_mod_inverse|p256"), ("X25519", r"x25519|fiat_25519|curve25519"),
              ("ML-KEM (with SHA-3)", r"mlkem|keccak|sha3"), ("SHA-2", r"sha(256|512)"), ("AES-GCM", r"aes|gcm|ghash")]
by_primitive = collections.Counter()
for s in samples:
    leaf = s[0][0]
    if what_ran(*s[0]) != "BoringSSL": continue
    by_primitive[next((label for label, pattern in primitives if re.search(pattern, leaf, re.I)), "the rest of BoringSSL")] += 1

total = len(samples)
share = lambda n: round(100.0 * n / total, 1)
result = {"mode": mode, "samples": total,
          "whatRanPercent": {k: share(v) for k, v in by_what.most_common()},
          "workPercent": {k: share(v) for k, v in by_work.most_common()},
          "boringSSLPercent": {k: share(v) for k, v in by_primitive.most_common()}}
figures = [l.strip() for l in open(benchmark_log) if l.strip()][-12:]
result["benchmarkOutput"] = figures
json.dump(result, open(output, "w"), indent=2)
lines = ["jump-server's CPU under %s.sh: %d samples" % (mode, total), "", "what ran (the leaf of each sample):"]
lines += ["  %-45s %5.1f%%" % (k, v) for k, v in result["whatRanPercent"].items()]
lines += ["", "the work it was part of (the named function nearest the leaf; the list is in the script):"]
lines += ["  %-65s %5.1f%%" % (k, v) for k, v in result["workPercent"].items()]
lines += ["", "BoringSSL's part by primitive (of all samples):"]
lines += ["  %-45s %5.1f%%" % (k, v) for k, v in result["boringSSLPercent"].items()]
lines += ["", "the benchmark's own output (its figures are lower while perf samples):"] + ["  " + l for l in figures]
text = "\n".join(lines)
print(text)
open(output.rsplit(".", 1)[0] + ".txt", "w").write(text + "\n")
PY
log "figures written to $output"
