#!/usr/bin/env bash
# Writes Sources/Agent/idle-functions.order: the functions an idle jump-agent runs, which `make agent`
# gives the linker (lld's --symbol-ordering-file) so that they sit together at the start of the
# program's code. An idle agent then touches a few hundred KiB of its code instead of pages spread
# over 19 MB, and the kernel's fault-around (64 KiB around every page touched) maps little besides.
#
#   scripts/agent-idle-order.sh [--interval SECONDS] [--window SECONDS] [--no-build] [PROGRAM]
#
#   PROGRAM    the jump-agent to trace (default make agent's, .build-agent/release/jump-agent); it needs
#              its symbol table (make agent's program has it)
#   --interval the statistics interval the throwaway appliance sets (default 10)
#   --window   how long to trace after start-up (default 65: six reports, two heartbeats and two
#              watchdog pings)
#   --no-build use the jump-server and jumpctl already built (JUMP_BENCH_BIN, else the release build's)
#
# How: the agent runs under valgrind's callgrind with instrumentation off; once it logs that it
# released the pages start-up mapped (MappedFilePages, after its first acknowledged report), the
# instrumentation goes on for the window; every function of the program that ran in it, in the order
# callgrind first saw it, is the list (see below for which). Run it after changes to what the idle
# loop does, then make agent again; a stale list costs memory, not correctness (the linker ignores
# names it does not find).
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-} in -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac

interval=10
window=65
program=.build-agent/release/jump-agent
while [ $# -gt 0 ]; do
    case $1 in
        --interval) interval=$2; shift 2 ;;
        --window) window=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -*) echo "agent-idle-order.sh: unknown option $1 (see --help)" >&2; exit 64 ;;
        *) program=$1; shift ;;
    esac
done
[ -x "$program" ] || { echo "agent-idle-order.sh: no program at $program: run make agent first" >&2; exit 66; }

. Benchmarks/lib/common.sh
need_packages python3 valgrind binutils
build_products jump-server jumpctl

# valgrind 3.19 cannot read the DWARF 5 of a Swift 6 build: trace a copy with the symbols only.
strip --strip-debug -o "$work/jump-agent" "$program"
start_appliance "$work/data" "$(free_port)" "$(free_port)"
jumpctl settings set statistics-interval "$interval" >/dev/null
jumpctl installer create --group Default --expires 1h --allow-override name,install-dir \
    --output "$work/installer.json" >/dev/null
"$work/jump-agent" install --installer "$work/installer.json" --install-dir "$work/agent" --name idle-order \
    --no-service >/dev/null
# As under its systemd unit (WatchdogSec=60): a notification socket, and watchdog pings every 30 s.
"$python" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    s.recv(4096)
' "$work/notify" &
started $!
NOTIFY_SOCKET=$work/notify WATCHDOG_USEC=60000000 valgrind --tool=callgrind --instr-atstart=no --demangle=no --compress-strings=no \
    --callgrind-out-file="$work/callgrind.out" "$work/agent/bin/jump-agent" run --log-level debug \
    2>"$work/jump-agent.log" &
agent=$!
started "$agent"
deadline=$((SECONDS + 180))
until grep -q 'released the file pages start-up mapped' "$work/jump-agent.log"; do
    kill -0 "$agent" 2>/dev/null || die "the agent stopped; see $work/jump-agent.log"
    [ "$SECONDS" -lt "$deadline" ] || die "the agent did not settle within 180 s; see $work/jump-agent.log"
    sleep 1
done
callgrind_control --instr=on "$agent" >/dev/null
log "tracing the idle agent for $window s"
sleep "$window"
callgrind_control --dump "$agent" >/dev/null
dump=$(ls "$work"/callgrind.out.* | head -1)

# The list, in the order callgrind first saw each function, of those the linker can move one by one:
# a function in a section of its own, under a name no other section has. A name in one of the
# prebuilt libraries' shared .text sections (the Swift runtime, Concurrency, FoundationEssentials
# and BoringSSL's assembly were built without a section per function) would pull that whole section
# forward with it; those go last, so the movable functions stay together. A name in several sections
# (local specializations that many files emit) is left out.
[ -f .build-agent/jump-agent.map ] || die "no link map: run make agent first"
"$python" - "$dump" .build-agent/jump-agent.map Sources/Agent/idle-functions.order <<'PY'
import collections, re, sys
dump, link_map, output = sys.argv[1:4]
traced, seen, program = [], set(), False
for line in open(dump):
    if line.startswith("ob="):
        program = line.rstrip().endswith("/jump-agent")
    elif line.startswith("fn=") and program:
        name = re.sub(r"'\d+$", "", line[3:].strip())  # callgrind marks recursion levels with 'N
        if name and not name.startswith("0x") and name not in seen:
            seen.add(name)
            traced.append(name)
# lld's map: an output section at 8 spaces of indentation after the numbers, an input section at 9
# more, its symbols at 8 more again.
sections_of = collections.defaultdict(list)
in_text, section = False, None
for line in open(link_map):
    match = re.match(r"^\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+ (\S.*)$", line)
    if match:
        in_text, section = match.group(1).strip() == ".text", None
        continue
    if not in_text:
        continue
    match = re.match(r"^\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+\s{9}(\S.*)$", line)
    if match:
        text = match.group(1).rstrip()
        section = text[text.rfind(":(") + 2:-1] if text.endswith(")") else text
        continue
    match = re.match(r"^\s+[0-9a-f]+\s+[0-9a-f]+\s+[0-9a-f]+\s+\d+\s{17}(\S.*)$", line)
    if match and section is not None:
        sections_of[match.group(1).rstrip()].append(section)
movable = [n for n in traced if len(sections_of[n]) == 1 and sections_of[n][0].startswith(".text.")]
shared = [n for n in traced if len(sections_of[n]) == 1 and not sections_of[n][0].startswith(".text.")]
with open(output, "w") as out:
    out.write("\n".join(movable + shared) + "\n")
print("%d functions traced: %d movable, %d in shared sections, %d left out; written to %s"
      % (len(traced), len(movable), len(shared), len(traced) - len(movable) - len(shared), output))
print("run make agent again to link with it")
PY
