#!/usr/bin/env python3
"""Interactive remote shells compared in one run: keystroke round trips and bulk output through a pty.

Each target is a command line that, run in a pseudo-terminal, ends at an interactive shell prompt
(`ssh -tt ...`, `jumpctl jump CLIENT`, `bash --norc -i`). For every target and run, a fresh session is
started and measured the way a person at a terminal would feel it:

- keystroke latency: the remote tty is put in non-canonical, no-echo mode and `dd bs=1` copies each
  byte it reads straight back; one byte is sent only after the previous one came back, and each round
  trip is timed with a monotonic clock;
- bulk output: a base64 text file is created remotely (not timed), then `cat FILE` runs and everything
  is consumed until an end marker.

Targets are measured in turn within each run (interleaved), medians over the runs are printed, and
every other target is compared with the first (ratio = first / other). The CPU time (user + system,
from /proc/PID/stat) that the target's own process (`client`: ssh, jumpctl, bash) and every process
given with --watch-pid NAME=PID (e.g. the appliance and the agent) use during each bulk phase is
recorded too; on Linux only. Standard library only.

    session_bench.py --target jump='jumpctl jump jc-1234' --target ssh='ssh -tt -p 2222 root@127.0.0.1'
    session_bench.py --label ssh -- ssh -tt -p 2222 root@127.0.0.1
"""

import argparse
import errno
import fcntl
import json
import os
import platform
import secrets
import select
import shlex
import signal
import statistics
import struct
import sys
import termios
import time

# One megabyte as printed in MB/s and used by --size-mb (decimal, like network and disk figures).
MB = 1_000_000

# Every marker begins with this; '-' never occurs in base64 text, so the bulk data cannot fake one.
MARKER_PREFIX = "JCB-"

# How long a target may take to show a usable shell (session setup, authentication, login scripts).
DEFAULT_READY_TIMEOUT_S = 60.0

# The readiness probe is typed again this often, in case the first copy was typed before anything
# was reading the terminal and got lost.
READY_RESEND_INTERVAL_S = 5.0

# Limit for one short exchange: one keystroke's echo, one marker after a short command.
STEP_TIMEOUT_S = 15.0

# Limit for creating the bulk file remotely (reading /dev/urandom and base64 of it).
CREATE_TIMEOUT_S = 300.0

# Default limit for the whole bulk transfer of one run.
DEFAULT_BULK_TIMEOUT_S = 600.0

# Limit for the target to end after `exit`, before it is killed.
EXIT_TIMEOUT_S = 10.0

# How long to wait for the target to end after the shell exited, and after each signal.
KILL_WAIT_S = 2.0

# Keystrokes sent before the measured ones: the first byte also pays for dd starting up.
WARMUP_KEYSTROKES = 20

# Largest single read from the pty master (Linux returns at most about 4 KiB per read anyway).
READ_CHUNK = 1 << 16

# Output kept for error messages.
DIAGNOSTIC_TAIL_BYTES = 1500

# The pty's window size, set before the target starts (ssh and jumpctl pass it on).
WINDOW_ROWS, WINDOW_COLS = 24, 80

# Bytes typed in the latency test: printable, so no signal, flow-control or line-editing character.
KEYSTROKE_ALPHABET = b"abcdefghijklmnopqrstuvwxyz0123456789"


class BenchError(Exception):
    """A target that could not be measured; the message says what happened and shows its last output."""


def token():
    return secrets.token_hex(6)


try:
    CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
except (AttributeError, ValueError, OSError):
    CLOCK_TICKS = 100


def cpu_seconds(pid):
    """User + system CPU seconds of process `pid` (all its threads, not its children), or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as stat:
            text = stat.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may hold spaces; utime and stime are fields
    # 14 and 15, i.e. the 12th and 13th after the closing parenthesis.
    fields = text[text.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class CPUMeter:
    """CPU seconds used by named processes between start() and stop()."""

    def __init__(self, pids):
        self.pids = dict(pids)
        self.before = {}
        self.used = {}  # set by stop(): CPU seconds per name, None when the process was not readable

    def start(self):
        self.before = {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def stop(self):
        used = {}
        for name, pid in self.pids.items():
            after = cpu_seconds(pid)
            before = self.before.get(name)
            # Rounded to the clock tick, so that tick arithmetic shows no float noise.
            used[name] = None if after is None or before is None else round(after - before, 6)
        self.used = used
        return used


def marker_command(tag):
    """The command printing MARKER_PREFIX + tag, and the marker as bytes.

    The typed line holds `JCB-%s` and the tag apart, so a tty echoing the typed line never shows the
    marker: only running the command does.
    """
    return "printf '%s%%s\\n' %s" % (MARKER_PREFIX, tag), (MARKER_PREFIX + tag).encode()


class PtySession:
    """One target running on a fresh pseudo-terminal, as the session leader with it as controlling tty."""

    def __init__(self, name, argv):
        self.name = name
        self.argv = argv
        self.pending = bytearray()  # output read from the pty but not consumed yet
        self.tail = bytearray()  # last output, for error messages
        self.eof = False
        self.status = None
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", WINDOW_ROWS, WINDOW_COLS, 0, 0))
        env = dict(os.environ)
        env.setdefault("TERM", "xterm")
        pid = os.fork()
        if pid == 0:  # child: only exec from here
            try:
                os.close(master)
                os.setsid()
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(slave, fd)
                if slave > 2:
                    os.close(slave)
                os.execvpe(argv[0], argv, env)
            except BaseException as error:  # noqa: BLE001 - report anything, never return to Python
                os.write(2, ("cannot start %s: %s\r\n" % (argv[0], error)).encode())
            os._exit(127)
        os.close(slave)
        self.pid = pid
        self.fd = master
        os.set_blocking(master, False)

    # --- low level -------------------------------------------------------------------------------

    def describe_end(self):
        self.poll()
        if self.status is None:
            return "still running"
        if os.WIFEXITED(self.status):
            return "exited with status %d" % os.WEXITSTATUS(self.status)
        if os.WIFSIGNALED(self.status):
            return "killed by signal %d" % os.WTERMSIG(self.status)
        return "ended"

    def last_output(self):
        text = bytes(self.tail).decode("utf-8", "replace").replace("\r", "")
        return text.strip() or "(no output)"

    def fail(self, what):
        return BenchError(
            "target %r: %s (%s).\n  command: %s\n  last output:\n    %s"
            % (
                self.name,
                what,
                self.describe_end(),
                shlex.join(self.argv),
                self.last_output().replace("\n", "\n    "),
            )
        )

    def poll(self):
        if self.status is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == self.pid:
                self.status = status
        return self.status is not None

    def write(self, data, deadline=None):
        deadline = deadline or time.monotonic() + STEP_TIMEOUT_S
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.fd, view)
                view = view[written:]
                continue
            except BlockingIOError:
                pass
            except OSError as error:
                raise self.fail("cannot write to its terminal: %s" % error) from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self.fail("its terminal accepted no input for %.0f s" % STEP_TIMEOUT_S)
            select.select([], [self.fd], [], remaining)

    def type_line(self, line):
        self.write(line.encode() + b"\r")

    def read_some(self, deadline):
        """The next output, or b'' once the deadline passed; raises when the terminal closed.

        Reads first and selects only when nothing is there: during bulk output that saves a system call
        per read (a select before every read made a 100 MB cat through a bare pty about 30% slower).
        """
        while True:
            if time.monotonic() >= deadline:  # also ends output that never pauses
                return b""
            try:
                data = os.read(self.fd, READ_CHUNK)
            except BlockingIOError:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return b""
                select.select([self.fd], [], [], remaining)
                continue
            except OSError as error:
                if error.errno != errno.EIO:
                    raise
                data = b""
            if not data:  # Linux reports EIO on the master once every slave descriptor is closed
                self.eof = True
                raise self.fail("its terminal closed")
            self.tail += data
            del self.tail[:-DIAGNOSTIC_TAIL_BYTES]
            return data

    def read_until(self, markers, deadline, waiting_for):
        """Consumes output up to and including the first of `markers` and the rest of its line.

        Returns the marker found. Everything before it is discarded (prompts, echoes, escapes).
        """
        while True:
            found = None
            for marker in markers:
                at = self.pending.find(marker)
                if at >= 0 and (found is None or at < found[0]):
                    found = (at, marker)
            if found is not None:
                at, marker = found
                newline = self.pending.find(b"\n", at + len(marker))
                if newline >= 0:
                    del self.pending[: newline + 1]
                    return marker
            data = self.read_some(deadline)
            if not data:
                raise self.fail("timed out waiting for %s" % waiting_for)
            self.pending += data

    def sync(self, what, timeout=STEP_TIMEOUT_S):
        """Runs a marker command and drops all output before its result."""
        command, marker = marker_command(token())
        self.type_line(command)
        self.read_until([marker], time.monotonic() + timeout, what)

    # --- session steps ---------------------------------------------------------------------------

    def wait_ready(self, timeout):
        """Types the probe until a shell runs it; returns the seconds from start to a usable shell."""
        started = time.monotonic()
        deadline = started + timeout
        markers = []
        while True:
            tag = "READY-" + token()
            command = "printf 'READY-%%s\\n' %s" % tag[len("READY-") :]
            markers.append(tag.encode())
            self.type_line(command)
            try:
                self.read_until(markers, min(deadline, time.monotonic() + READY_RESEND_INTERVAL_S), "")
                break
            except BenchError:
                if self.eof:
                    raise self.fail("it ended before its shell became ready") from None
                if time.monotonic() >= deadline:
                    raise self.fail(
                        "no shell prompt became usable within %.0f s (a typed `printf READY-...` never "
                        "ran); check that the command reaches an interactive shell" % timeout
                    ) from None
        ready = time.monotonic() - started
        # Quiet the shell: no tty echo of typed lines, a plain prompt, no prompt hooks, no history file.
        self.type_line("stty -echo; PS1='$ '; PS2=''; unset PROMPT_COMMAND HISTFILE")
        self.sync("the shell after setting it up")
        return ready

    def measure_keystrokes(self, count):
        """Round-trip times in microseconds of `count` single bytes echoed by `dd bs=1` remotely."""
        total = count + WARMUP_KEYSTROKES
        start_cmd, start = marker_command("LAT-" + token())
        end_cmd, end = marker_command("LATEND-" + token())
        self.type_line(
            "stty -icanon -echo min 1 time 0; %s; dd bs=1 count=%d 2>/dev/null; stty icanon; %s"
            % (start_cmd, total, end_cmd)
        )
        self.read_until([start], time.monotonic() + STEP_TIMEOUT_S, "the keystroke echo loop to start")
        stray = len(self.pending)
        self.pending.clear()
        samples = []
        clock = time.perf_counter_ns
        for i in range(total):
            key = KEYSTROKE_ALPHABET[i % len(KEYSTROKE_ALPHABET)]
            deadline = time.monotonic() + STEP_TIMEOUT_S
            sent = clock()
            self.write(bytes([key]), deadline)
            while True:
                at = self.pending.find(key)
                if at >= 0:
                    received = clock()
                    stray += at
                    del self.pending[: at + 1]
                    break
                data = self.read_some(deadline)
                if not data:
                    raise self.fail("keystroke %d of %d was not echoed within %.0f s" % (i + 1, total, STEP_TIMEOUT_S))
                self.pending += data
            if i >= WARMUP_KEYSTROKES:
                samples.append((received - sent) / 1000.0)
        self.read_until([end], time.monotonic() + STEP_TIMEOUT_S, "the keystroke echo loop to end")
        return samples, stray

    def create_file(self, size):
        """Creates the bulk file remotely (untimed); returns the shell variable naming it."""
        raw = size * 3 // 4 + 4
        self.type_line(
            "JCB_FILE=${TMPDIR:-/tmp}/jcb-session-%s.b64; head -c %d /dev/urandom | base64 | head -c %d > \"$JCB_FILE\""
            % (token(), raw, size)
        )
        self.sync("the %d-byte bulk file to be created" % size, timeout=CREATE_TIMEOUT_S)
        # Read it once so the page cache, not the disk, feeds the timed cat.
        self.type_line('cat "$JCB_FILE" > /dev/null')
        self.sync("the bulk file to be read once", timeout=CREATE_TIMEOUT_S)

    def measure_bulk(self, size, timeout, meter=None):
        """Times `cat FILE` from its start marker to its end marker; returns (seconds, bytes received).

        `meter`, when given, is started at the start marker and stopped at the end marker.
        """
        start_cmd, start = marker_command("BULK-" + token())
        end_cmd, end = marker_command("BULKEND-" + token())
        self.type_line('%s; cat "$JCB_FILE"; %s' % (start_cmd, end_cmd))
        deadline = time.monotonic() + timeout
        self.read_until([start], time.monotonic() + STEP_TIMEOUT_S, "the bulk output to start")
        if meter:
            meter.start()
        began = time.perf_counter()
        window = bytes(self.pending)  # output already read after the start marker
        self.pending.clear()
        received = 0
        keep = len(end) - 1
        while True:
            at = window.find(end)
            if at >= 0:
                finished = time.perf_counter()
                if meter:
                    meter.stop()
                received += at
                self.pending += window[at:]
                break
            if len(window) > keep:
                received += len(window) - keep
                window = window[-keep:]
            data = self.read_some(deadline)
            if not data:
                raise self.fail(
                    "bulk output not finished within %.0f s (%d bytes so far); raise --bulk-timeout"
                    % (timeout, received)
                )
            window += data
        self.read_until([end], time.monotonic() + STEP_TIMEOUT_S, "the end of the bulk output")
        if received < size:
            raise self.fail(
                "bulk output was %d bytes, less than the %d-byte file: was it created "
                "(head, base64 and /dev/urandom remotely)?" % (received, size)
            )
        return finished - began, received

    def close(self, graceful=True):
        """Removes the bulk file and exits the shell; kills the target if it does not end.

        After a failure the shell may not be listening, so the target is killed straight away.
        """
        if graceful and not self.eof and not self.poll():
            try:
                self.type_line('rm -f "$JCB_FILE"; exit')
                deadline = time.monotonic() + EXIT_TIMEOUT_S
                while time.monotonic() < deadline:
                    if not self.read_some(deadline):
                        break
            except BenchError:
                pass
        self.kill(wait_first=graceful)
        try:
            os.close(self.fd)
        except OSError:
            pass

    def kill(self, wait_first):
        for sig in (None, signal.SIGHUP, signal.SIGTERM, signal.SIGKILL):
            if sig is None and not wait_first:
                continue
            if sig is not None:
                for target in (-self.pid, self.pid):  # its process group, then itself
                    try:
                        os.kill(target, sig)
                    except (ProcessLookupError, PermissionError):
                        pass
            deadline = time.monotonic() + KILL_WAIT_S
            while time.monotonic() < deadline:
                if self.poll():
                    return
                time.sleep(0.02)


def percentile_summary(samples):
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "p50_us": cuts[49],
        "p90_us": cuts[89],
        "p99_us": cuts[98],
        "max_us": max(samples),
        "mean_us": statistics.fmean(samples),
    }


def run_target(name, argv, args, size):
    session = PtySession(name, argv)
    finished = False
    try:
        ready_s = session.wait_ready(args.ready_timeout)
        samples, stray = session.measure_keystrokes(args.bytes)
        latency = percentile_summary(samples)
        session.create_file(size)
        meter = CPUMeter([("client", session.pid)] + args.watch_pids)
        bulk_s, received = session.measure_bulk(size, args.bulk_timeout, meter)
        finished = True
    finally:
        session.close(graceful=finished)
    return {
        "ready_s": ready_s,
        **latency,
        "keystrokes": len(samples),
        "stray_bytes": stray,
        "bulk_s": bulk_s,
        "bulk_mb_per_s": size / MB / bulk_s,
        "bulk_bytes_received": received,
        "bulk_cpu_s": meter.used,
    }


# The figures printed and compared: (key, column title, format, whether larger is better).
COLUMNS = [
    ("ready_s", "ready s", "{:.2f}", False),
    ("p50_us", "p50 us", "{:.0f}", False),
    ("p90_us", "p90 us", "{:.0f}", False),
    ("p99_us", "p99 us", "{:.0f}", False),
    ("max_us", "max us", "{:.0f}", False),
    ("bulk_mb_per_s", "bulk MB/s", "{:.1f}", True),
    ("bulk_s", "bulk s", "{:.2f}", False),
]


def cpu_text(cpu):
    shown = ["%s %.2f s" % (name, used) for name, used in cpu.items() if used is not None]
    return "; bulk CPU " + ", ".join(shown) if shown else ""


def median_cpu(results):
    """Median CPU seconds per process name over the runs, leaving out runs where it was unreadable."""
    names = []
    for result in results:
        names += [name for name in result.get("bulk_cpu_s", {}) if name not in names]
    medians = {}
    for name in names:
        values = [r["bulk_cpu_s"][name] for r in results if r.get("bulk_cpu_s", {}).get(name) is not None]
        medians[name] = statistics.median(values) if values else None
    return medians


def table(rows):
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for n, row in enumerate(rows):
        cells = [str(row[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def parse_args():
    parser = argparse.ArgumentParser(
        description="Compare interactive shells through a pty: keystroke round trips and bulk cat output.",
        epilog="Ratios compare the first target with each other one: first / other "
        "(latency and seconds above 1: the first is slower; MB/s below 1: the first is slower).",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME=COMMAND",
        help="a target: COMMAND is a shell-quoted command line reaching an interactive shell in a pty "
        "(repeatable; the first is the one compared with the others)",
    )
    parser.add_argument("--label", default="target", help="name of the target given after --")
    parser.add_argument("command", nargs="*", help="a target command after --, named by --label")
    parser.add_argument("--bytes", type=int, default=1000, help="keystrokes per run (default 1000)")
    parser.add_argument("--runs", type=int, default=3, help="runs per target; medians are reported (default 3)")
    parser.add_argument("--size-mb", type=float, default=100.0, help="bulk file size in MB of 10^6 bytes (default 100)")
    parser.add_argument("--output", help="write the results as JSON to this file")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=DEFAULT_READY_TIMEOUT_S,
        help="seconds a target may take to show a usable shell (default %.0f)" % DEFAULT_READY_TIMEOUT_S,
    )
    parser.add_argument(
        "--bulk-timeout",
        type=float,
        default=DEFAULT_BULK_TIMEOUT_S,
        help="seconds one bulk transfer may take (default %.0f)" % DEFAULT_BULK_TIMEOUT_S,
    )
    parser.add_argument(
        "--watch-pid",
        action="append",
        default=[],
        metavar="NAME=PID",
        help="also record the CPU time process PID uses during each bulk phase, as NAME (repeatable; "
        "e.g. appliance=1234 agent=1240); the target's own process is always recorded as client",
    )
    args = parser.parse_args()
    args.watch_pids = []
    for spec in args.watch_pid:
        name, sep, pid = spec.partition("=")
        if not sep or not name or name == "client" or not pid.isdigit():
            parser.error("--watch-pid wants NAME=PID with a NAME other than client, got %r" % spec)
        args.watch_pids.append((name, int(pid)))
    targets = []
    for spec in args.target:
        name, sep, command = spec.partition("=")
        if not sep or not name or not command.strip():
            parser.error("--target wants NAME=COMMAND, got %r" % spec)
        try:
            argv = shlex.split(command)
        except ValueError as error:
            parser.error("--target %s: cannot split the command: %s" % (name, error))
        targets.append((name, argv))
    if args.command:
        targets.append((args.label, args.command))
    if not targets:
        parser.error("give at least one --target NAME=COMMAND (or --label NAME -- COMMAND ...)")
    names = [name for name, _ in targets]
    if len(set(names)) != len(names):
        parser.error("target names must differ: %s" % ", ".join(names))
    if args.bytes < 1 or args.runs < 1 or args.size_mb <= 0:
        parser.error("--bytes and --runs must be at least 1, --size-mb above 0")
    return args, targets


def main():
    args, targets = parse_args()
    size = int(args.size_mb * MB)
    log = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    runs = {name: [] for name, _ in targets}
    for run in range(1, args.runs + 1):
        for name, argv in targets:  # interleaved, so slow drift hits every target alike
            log("run %d/%d  %s: %s" % (run, args.runs, name, shlex.join(argv)))
            try:
                result = run_target(name, argv, args, size)
            except BenchError as error:
                log("session_bench: %s" % error)
                return 1
            runs[name].append(result)
            log(
                "  ready %.2f s; keystroke p50 %.0f us, p99 %.0f us, max %.0f us; bulk %.1f MB/s (%.2f s, %d bytes)"
                % (
                    result["ready_s"],
                    result["p50_us"],
                    result["p99_us"],
                    result["max_us"],
                    result["bulk_mb_per_s"],
                    result["bulk_s"],
                    result["bulk_bytes_received"],
                )
                + cpu_text(result["bulk_cpu_s"])
            )

    medians = {
        name: {key: statistics.median(r[key] for r in results) for key, _, _, _ in COLUMNS}
        for name, results in runs.items()
    }
    cpu_medians = {name: median_cpu(results) for name, results in runs.items()}
    first = targets[0][0]
    ratios = {
        "%s/%s" % (first, name): {key: medians[first][key] / medians[name][key] for key, _, _, _ in COLUMNS}
        for name, _ in targets[1:]
    }

    print(
        "\nMedians of %d run(s): %d keystrokes each (after %d warm-up), bulk file %d bytes (%.1f MB, base64 text)"
        % (args.runs, args.bytes, WARMUP_KEYSTROKES, size, size / MB)
    )
    rows = [["target"] + [title for _, title, _, _ in COLUMNS]]
    for name, _ in targets:
        rows.append([name] + [fmt.format(medians[name][key]) for key, _, fmt, _ in COLUMNS])
    print(table(rows))
    cpu_names = []
    for name, _ in targets:
        cpu_names += [n for n in cpu_medians[name] if n not in cpu_names]
    if cpu_names:
        print("\nCPU seconds (user + system) used during the bulk phase, medians; client is the target's own process")
        rows = [["target"] + cpu_names]
        for name, _ in targets:
            used = cpu_medians[name]
            rows.append([name] + ["-" if used.get(n) is None else "{:.2f}".format(used[n]) for n in cpu_names])
        print(table(rows))
    if ratios:
        print("\nRatios first / other (latency and seconds: above 1 means %s is slower; MB/s: below 1 means %s is slower)" % (first, first))
        rows = [["ratio"] + [title for _, title, _, _ in COLUMNS]]
        for label, values in ratios.items():
            rows.append([label] + ["{:.2f}".format(values[key]) for key, _, _, _ in COLUMNS])
        print(table(rows))

    if args.output:
        report = {
            "benchmark": "session_bench",
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "config": {
                "keystrokes": args.bytes,
                "warmup_keystrokes": WARMUP_KEYSTROKES,
                "runs": args.runs,
                "bulk_bytes": size,
                "mb": MB,
                "watched_pids": dict(args.watch_pids),
            },
            "targets": [
                {
                    "name": name,
                    "command": shlex.join(argv),
                    "median": medians[name],
                    "median_bulk_cpu_s": cpu_medians[name],
                    "runs": runs[name],
                }
                for name, argv in targets
            ],
            "ratios_first_over_other": ratios,
        }
        directory = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(directory, exist_ok=True)
        with open(args.output, "w") as out:
            json.dump(report, out, indent=2)
            out.write("\n")
        print("\nResults written to %s" % args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
