"""Groups the samples of `perf script -F ip,sym,dso` (a profile with call stacks) of jump-server: by
what ran (the owner of each sample's leaf), by the work it was part of (the named function nearest the
leaf), BoringSSL's part by primitive, and the share of samples with given functions on their stacks.
Used by cpu-profile.sh.

    profile_stacks.py STACKS OUTPUT.json TITLE [--log BENCHMARK_LOG] [--on-stack REGEX ...]
"""
import argparse, collections, json, os, re, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from owners import BORINGSSL_ASSEMBLY, owner

# The work a sample was part of: the first of these (leaf first) that a frame of its stack matches. A
# sample inside the write system call that sends an acknowledgement counts as writing, one in the
# protobuf decoder as decoding, one in the connection handler's own code as that handler. Time spent
# waiting is not sampled: perf samples time on the CPU only.
WORK = [
    ("epoll_wait (the system call's own work)", r"epoll_wait"),
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
# BoringSSL's part, by the leaf's name.
PRIMITIVES = [
    ("P-256 (ECDSA signatures)", r"nistz256|beeu_mod_inverse|p256"),
    ("X25519", r"x25519|fiat_25519|curve25519"),
    ("ML-KEM (with SHA-3)", r"mlkem|keccak|sha3"),
    ("SHA-2", r"sha(256|512)"),
    ("AES-GCM", r"aes|gcm|ghash"),
]


def read_samples(path):
    """One sample: its frames from the leaf, each (symbol, file); perf separates samples by a blank line."""
    samples, frames = [], []
    for line in open(path, errors="replace"):
        line = line.strip()
        if not line:
            if frames: samples.append(frames)
            frames = []
            continue
        parts = line.split(None, 1)
        if len(parts) < 2: continue
        rest = parts[1]
        dso = rest[rest.rfind("(") + 1:-1] if rest.endswith(")") else ""
        symbol = rest[:rest.rfind(" (")] if " (" in rest else rest
        frames.append((re.sub(r"\+0x[0-9a-f]+$", "", symbol), dso))
    if frames: samples.append(frames)
    return samples


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("stacks")
    parser.add_argument("output")
    parser.add_argument("title")
    parser.add_argument("--log")
    parser.add_argument("--process", default="jump-server")
    parser.add_argument("--on-stack", action="append", default=[])
    arguments = parser.parse_args()

    samples = read_samples(arguments.stacks)
    if not samples:
        sys.exit("no samples in %s: is perf allowed here (kernel.perf_event_paranoid)?" % arguments.stacks)
    work = [(label, re.compile(pattern)) for label, pattern in WORK]
    by_owner, by_work, by_primitive = collections.Counter(), collections.Counter(), collections.Counter()
    on_stack = collections.Counter()
    for sample in samples:
        leaf = sample[0][0]
        by_owner[owner(*sample[0])] += 1
        fallback = "cryptography (BoringSSL's assembly: no call stack)" if BORINGSSL_ASSEMBLY.search(leaf) else "other"
        by_work[next((label for name, _ in sample for label, pattern in work if pattern.search(name)), fallback)] += 1
        if owner(*sample[0]) == "BoringSSL":
            by_primitive[next((label for label, pattern in PRIMITIVES if re.search(pattern, leaf, re.I)), "the rest of BoringSSL")] += 1
        for pattern in arguments.on_stack:
            if any(re.search(pattern, name) for name, _ in sample): on_stack[pattern] += 1

    total = len(samples)
    share = lambda n: round(100.0 * n / total, 1)
    result = {
        "title": arguments.title, "samples": total,
        "ownerPercent": {k: share(v) for k, v in by_owner.most_common()},
        "workPercent": {k: share(v) for k, v in by_work.most_common()},
        "boringSSLPercent": {k: share(v) for k, v in by_primitive.most_common()},
        "onStackPercent": {p: share(on_stack[p]) for p in arguments.on_stack},
    }
    lines = ["%s's CPU %s: %d samples" % (arguments.process, arguments.title, total), "", "what ran (the owner of each sample's leaf):"]
    lines += ["  %-52s %5.1f%%" % item for item in result["ownerPercent"].items()]
    lines += ["", "the work it was part of (the named function nearest the leaf; the list is in profile_stacks.py):"]
    lines += ["  %-60s %5.1f%%" % item for item in result["workPercent"].items()]
    lines += ["", "BoringSSL's part by primitive (of all samples):"]
    lines += ["  %-52s %5.1f%%" % item for item in result["boringSSLPercent"].items()]
    if arguments.on_stack:
        lines += ["", "samples with a function matching the pattern on their stack:"]
        lines += ["  %-52s %5.1f%%" % item for item in result["onStackPercent"].items()]
    if arguments.log:
        figures = [line.strip() for line in open(arguments.log, errors="replace") if line.strip()][-12:]
        result["benchmarkOutput"] = figures
        lines += ["", "the benchmark's own output (its figures are lower while perf samples):"] + ["  " + l for l in figures]
    json.dump(result, open(arguments.output, "w"), indent=2)
    text = "\n".join(lines)
    print(text)
    open(arguments.output.rsplit(".", 1)[0] + ".txt", "w").write(text + "\n")


if __name__ == "__main__":
    main()
