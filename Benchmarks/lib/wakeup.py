#!/usr/bin/env python3
"""What a thread waking another costs on this machine, printed as JSON for the benchmarks' machine line.

Two processes pass one byte back and forth through a pair of pipes, each blocking in read() until the
other writes: every round trip is two wake-ups of a sleeping process. Measured twice: both processes
on one core, then on two different cores (when there are two). On bare metal the two figures are a few
microseconds apart; in a virtual machine whose idle vCPUs halt, waking a thread on another core goes
through the hypervisor and can cost ten to forty times more (docs/performance.md, "The machine"). The appliance and its simulated clients wake each
other for every report and every handshake, on different cores as often as not, so this figure says
how much of theirs is the machine's. Python's own overhead is in both figures (a few microseconds).

Also read: the cpuidle governor and, for the haltpoll governor, how long an idle vCPU polls before it
halts (guest_halt_poll_ns; 0: it halts at once). Nothing is changed on the machine.

    python3 Benchmarks/lib/wakeup.py [--round-trips N]
"""
import argparse
import json
import os
import time


def round_trip_us(cores, round_trips):
    """Median over 5 batches of microseconds per round trip, the parent on cores[0], the child on cores[-1]."""
    to_child_r, to_child_w = os.pipe()
    to_parent_r, to_parent_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        # Each end holds only the pipe ends it uses, so that either one ending gives the other
        # end-of-file instead of a read that never returns.
        try:
            os.close(to_child_w)
            os.close(to_parent_r)
            os.sched_setaffinity(0, {cores[-1]})
            while True:
                byte = os.read(to_child_r, 1)
                if not byte or byte == b"q":
                    break
                os.write(to_parent_w, byte)
        finally:
            os._exit(0)
    os.close(to_child_r)
    os.close(to_parent_w)
    mask = os.sched_getaffinity(0)
    batches = []
    try:
        os.sched_setaffinity(0, {cores[0]})
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(round_trips):
                os.write(to_child_w, b"x")
                if not os.read(to_parent_r, 1):
                    raise RuntimeError("the other process ended")
            batches.append((time.perf_counter() - start) / round_trips * 1e6)
    finally:
        os.close(to_child_w)  # the child reads end-of-file and ends
        os.close(to_parent_r)
        os.waitpid(pid, 0)
        os.sched_setaffinity(0, mask)
    return sorted(batches)[len(batches) // 2]


def read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def describe(figures):
    """The benchmarks' machine line for these figures (wakeUp in their JSON), or None without them."""
    if not figures or "sameCoreRoundTripUs" not in figures:
        return None
    line = "machine: a wake-up round trip between two processes (Benchmarks/lib/wakeup.py, before the run) %.1f us on one core" % figures["sameCoreRoundTripUs"]
    if "crossCoreRoundTripUs" in figures:
        line += ", %.1f us across two" % figures["crossCoreRoundTripUs"]
    if "cpuidleGovernor" in figures:
        line += ", cpuidle %s" % figures["cpuidleGovernor"]
    if "guestHaltPollNs" in figures:
        line += ", guest_halt_poll_ns %d" % figures["guestHaltPollNs"]
    return line


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--round-trips", type=int, default=2000, help="round trips per batch (5 batches)")
    arguments = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    figures = {"sameCoreRoundTripUs": round(round_trip_us([cores[0]], arguments.round_trips), 1)}
    if len(cores) > 1:
        figures["crossCoreRoundTripUs"] = round(round_trip_us([cores[0], cores[1]], arguments.round_trips), 1)
    governor = read("/sys/devices/system/cpu/cpuidle/current_governor")
    if governor:
        figures["cpuidleGovernor"] = governor
    poll = read("/sys/module/haltpoll/parameters/guest_halt_poll_ns")
    if poll is not None:
        figures["guestHaltPollNs"] = int(poll)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
