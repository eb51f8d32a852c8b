#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal and plays a script against it, as a person at a terminal would.

usage: pty_session.py ROWS COLS SCRIPT_JSON -- COMMAND [ARGUMENT...]

The script is a JSON list of steps:
  {"send": "text"}                      type the text ("\\u0003" is Ctrl-C)
  {"expect": "regex", "timeout": 10}    wait until the output since the last match matches
  {"resize": [rows, cols]}              resize the terminal (the command gets SIGWINCH)
  {"send": "text", "until": "regex", "every": 1, "timeout": 10}
                                        type the text again every `every` s until the output since
                                        the last match matches (a person who looks again: the
                                        command handles SIGWINCH in its own time, and text typed at
                                        once may reach the far side before the new size)
Prints one JSON object: {"status": exit status (128+N for signal N), "output": everything printed,
"failed": the step that timed out, or null}. Every wait has a timeout; the command is killed at the end.
"""
import fcntl, json, os, pty, re, select, signal, struct, sys, termios, time


def main():
    rows, cols, script = int(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
    command = sys.argv[sys.argv.index("--") + 1:]
    pid, master = pty.fork()
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.execvp(command[0], command)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    output, matched_to, failed = b"", 0, None

    def read(timeout):
        nonlocal output
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(master, 65536)
        except OSError:
            return False
        if not chunk:
            return False
        output += chunk
        return True

    def wait_for(pattern, seconds):
        nonlocal matched_to
        deadline = time.monotonic() + seconds
        while True:
            found = pattern.search(output, matched_to)
            if found:
                matched_to = found.end()
                return True
            if time.monotonic() > deadline or not read(max(0.0, deadline - time.monotonic())):
                return False

    for step in script:
        if "send" in step and "until" in step:
            pattern = re.compile(step["until"].encode())
            deadline = time.monotonic() + step.get("timeout", 10)
            while True:
                os.write(master, step["send"].encode())
                if wait_for(pattern, min(step.get("every", 1), max(0.0, deadline - time.monotonic()))):
                    break
                if time.monotonic() > deadline:
                    failed = step
                    break
            if failed:
                break
        elif "send" in step:
            os.write(master, step["send"].encode())
        elif "resize" in step:
            r, c = step["resize"]
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", r, c, 0, 0))
            os.kill(pid, signal.SIGWINCH)
        elif "expect" in step:
            if not wait_for(re.compile(step["expect"].encode()), step.get("timeout", 10)):
                failed = step
                break
    # Drain until the command exits (at most 15 s), then reap it.
    deadline = time.monotonic() + (1 if failed else 15)
    while time.monotonic() < deadline and read(0.2):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
    else:
        done = 0
    if not done:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
    while read(0):
        pass
    code = os.waitstatus_to_exitcode(status)
    print(json.dumps({"status": code if code >= 0 else 128 - code, "output": output.decode("utf-8", "replace"),
                      "failed": failed}))


main()
