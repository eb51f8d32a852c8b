#!/usr/bin/env bash
# What a jump-agent program is made of, and why its code counts in its resident memory: the figures
# behind docs/performance.md's "Agent footprint" that footprint.sh does not print.
#
#   Benchmarks/agent-anatomy.sh [PROGRAM]
#
#   PROGRAM   the jump-agent to read (default make agent's, .build-agent/release/jump-agent, else the
#             release build's, .build/release/jump-agent)
#
# Prints the program's dynamic symbols and relocations (what an exported-symbol link costs), its code
# by module (symbol sizes from nm, grouped by Swift module or BoringSSL copy), and the kernel's
# fault-around: a mapping of the program, one byte read every MiB, and the resident KiB that each read
# brought in. Reads the file only; runs nothing from it.
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-} in -h | --help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;; esac

. Benchmarks/lib/common.sh
need_packages python3 binutils
program=${1:-}
if [ -z "$program" ]; then
    for candidate in .build-agent/release/jump-agent .build/release/jump-agent; do
        [ -x "$candidate" ] && { program=$candidate; break; }
    done
fi
[ -n "$program" ] && [ -x "$program" ] || die "no jump-agent program: run make agent (or swift build -c release --product jump-agent), or name one"
program=$(realpath "$program")

"$python" - "$program" <<'PY'
import collections, mmap, os, re, subprocess, sys

program = sys.argv[1]
def run(*arguments):
    return subprocess.run(arguments, check=True, capture_output=True, text=True).stdout

print("program %s, %.1f MiB" % (program, os.path.getsize(program) / 1048576))
symbols = [l for l in run("readelf", "--dyn-syms", "-W", program).splitlines() if re.match(r"\s*\d+:", l)]
sections = {}
for line in run("readelf", "-SW", program).splitlines():
    match = re.match(r"\s*\[\s*\d+\]\s+(\S+)\s+\S+\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", line)
    if match:
        sections[match.group(1)] = int(match.group(2), 16)
print("dynamic symbols %d, .rela.dyn %.2f MB, .text %.1f MB" % (
    len(symbols), sections.get(".rela.dyn", 0) / 1e6, sections.get(".text", 0) / 1e6))

sizes = collections.Counter()
for line in run("nm", "-S", "--size-sort", program).splitlines():
    parts = line.split()
    if len(parts) < 4 or parts[2] not in "tT":
        continue
    name, size = parts[3], int(parts[1], 16)
    swift = re.match(r"^\$s(\d+)(\w+)", name)
    if swift:
        module = swift.group(2)[: int(swift.group(1))]
    elif name.startswith("$s"):
        module = "Swift standard library"
    elif name.startswith("CNIOBoringSSL"):
        module = "BoringSSL (swift-nio-ssl)"
    elif name.startswith("CCryptoBoringSSL"):
        module = "BoringSSL (swift-crypto)"
    elif name.startswith("_Z"):
        module = "C++ (BoringSSL's libssl, the runtime)"
    else:
        module = "C (the Swift runtime, BoringSSL's libcrypto parts, shims)"
    sizes[module] += size
print("\ncode by module (nm -S, text symbols), largest first:")
for module, size in sizes.most_common(20):
    print("  %-40s %7.0f KiB" % (module, size / 1024))
print("  %-40s %7.0f KiB" % ("all", sum(sizes.values()) / 1024))

# Fault-around: read one byte every MiB of a fresh mapping; count what became resident in it.
touches = 32
with open(program, "rb") as file:
    view = mmap.mmap(file.fileno(), 0, prot=mmap.PROT_READ)
    count = min(touches, len(view) // 1048576)
    for offset in range(0, count * 1048576, 1048576):
        view[offset]
    resident = 0
    inside = False
    for line in open("/proc/self/smaps"):
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            inside = line.rstrip().endswith(program) and line.split()[1] == "r--s"
        elif line.startswith("Rss:") and inside:
            resident += int(line.split()[1])
print("\nfault-around: %d bytes read 1 MiB apart made %d KiB resident, %.0f KiB per byte read" % (
    count, resident, resident / max(count, 1)))
PY
