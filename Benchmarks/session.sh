#!/usr/bin/env bash
# An interactive shell through the appliance (`jumpctl jump`) against ssh on loopback and a bare local
# pty, in the same run: keystroke round trips (p50/p90/p99/max) and `cat` of a 100 MB text file, each
# the median of several fresh sessions, with ratios first / other.
#
#   Benchmarks/session.sh [--with-jump | --no-jump] [--no-build] [session_bench.py options]
#       e.g. Benchmarks/session.sh --size-mb 10 --runs 1 --output FILE
#   JUMP_TARGET='.build/release/jumpctl jump jc-XXXX' Benchmarks/session.sh    (an appliance of your own)
#
# --with-jump (the default) builds the release jump-server, jump-agent and jumpctl (--no-build uses
# those already in .build/release), and sets up a throwaway appliance as scripts/demo.sh does: its data
# and jumpctl's login (XDG_CONFIG_HOME) in a temporary directory, agent and API ports chosen free on
# 127.0.0.1, an installer, a local agent enrolled as bench-endpoint and running, and admin given a Jump
# Item Role with start-sessions in the Default group. `jumpctl jump bench-endpoint` is then measured
# first, so the ratios read jump/ssh and jump/local, and the CPU time the appliance and the agent use
# during each bulk phase is recorded (see session_bench.py --watch-pid). --no-jump measures ssh and
# local only; JUMP_TARGET, when set, is measured as jump instead of the throwaway appliance.
#
# A throwaway sshd (host and client keys in the temporary directory) listens on 127.0.0.1:$SSH_PORT
# (default: a free port) for the run. Everything started here is stopped on exit, also on failure or
# Ctrl-C. openssh-server and openssh-client are installed with apt when missing. Results go to
# $OUTPUT (default /tmp/session-bench-DATE.json) unless --output is given.
set -euo pipefail
cd "$(dirname "$0")/.."

output=${OUTPUT:-/tmp/session-bench-$(date +%Y%m%d-%H%M%S).json}
python=${PYTHON:-python3}
# How long sshd may take to accept a first login.
sshd_start_timeout_s=15
# How long the appliance may take to write its initial admin password and accept a login.
appliance_start_timeout_s=60
# How long the enrolled agent may take to show as online.
agent_online_timeout_s=30
# How long a process may take to end after SIGTERM before it gets SIGKILL, on exit.
stop_timeout_s=5
# How long the first, non-interactive `jumpctl jump` probe may take.
jump_probe_timeout_s=60
# The Jump Client's name on the throwaway appliance.
endpoint=bench-endpoint

with_jump=1
build=1
bench_args=()
for arg in "$@"; do
    case $arg in
        --with-jump) with_jump=1 ;;
        --no-jump) with_jump=0 ;;
        --no-build) build=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
            echo
            exec "$python" Benchmarks/SessionBenchmark/session_bench.py --help
            ;;
        *) bench_args+=("$arg") ;;
    esac
done

log() { echo "session.sh: $*" >&2; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
# A TCP port on 127.0.0.1 that nobody listens on at the moment, chosen by the kernel.
free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
    log "installing openssh-server and openssh-client"
    as_root apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server openssh-client >&2
fi
# sshd's privilege-separation directory; systemd-tmpfiles creates it on a normal boot.
if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
    mkdir -p /run/sshd && chmod 0755 /run/sshd
fi

# The throwaway appliance only when jump is measured and no JUMP_TARGET was given.
own_appliance=0
if [ "$with_jump" -eq 1 ] && [ -z "${JUMP_TARGET:-}" ]; then
    own_appliance=1
fi

bin=$PWD/.build/release
if [ "$own_appliance" -eq 1 ]; then
    if [ "$build" -eq 1 ]; then
        for product in jump-server jump-agent jumpctl; do
            log "building $product (swift build -c release --product $product)"
            swift build -c release --product "$product" >&2
        done
    fi
    for product in jump-server jump-agent jumpctl; do
        if [ ! -x "$bin/$product" ]; then
            log "$bin/$product is missing; run without --no-build"
            exit 1
        fi
    done
fi

tmp=$(mktemp -d /tmp/session-bench.XXXXXX)
pids=() # every long-running process started here; stopped in reverse order on exit
stop_process() {
    local pid=$1 deadline
    kill "$pid" 2>/dev/null || return 0
    deadline=$((SECONDS + stop_timeout_s))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_process "${pids[i]}"; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- sshd ----------------------------------------------------------------------------------------

port=${SSH_PORT:-$(free_port)}
if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "something already listens on 127.0.0.1:$port; set SSH_PORT to a free port"
    exit 1
fi

ssh-keygen -q -t ed25519 -N '' -C session-bench-host -f "$tmp/host_ed25519"
ssh-keygen -q -t ed25519 -N '' -C session-bench-client -f "$tmp/client_ed25519"
cp "$tmp/client_ed25519.pub" "$tmp/authorized_keys"
user=$(id -un)

cat >"$tmp/sshd_config" <<EOF
ListenAddress 127.0.0.1
HostKey $tmp/host_ed25519
PidFile $tmp/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowUsers $user
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
AllowTcpForwarding no
EOF
sshd_args=(-f "$tmp/sshd_config" -p "$port" -o "AuthorizedKeysFile=$tmp/authorized_keys" -E "$tmp/sshd.log")
/usr/sbin/sshd -t "${sshd_args[@]}"
log "starting sshd on 127.0.0.1:$port"
/usr/sbin/sshd -D "${sshd_args[@]}" &
sshd_pid=$!
pids+=("$sshd_pid")

ssh_cmd=(ssh -F /dev/null -p "$port" -i "$tmp/client_ed25519"
    -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    -o LogLevel=ERROR -o ControlMaster=no -o ConnectTimeout=5 "$user@127.0.0.1")

deadline=$((SECONDS + sshd_start_timeout_s))
until "${ssh_cmd[@]}" true </dev/null 2>"$tmp/ssh-probe.err"; do
    if ! kill -0 "$sshd_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
        log "the test sshd on 127.0.0.1:$port did not accept a login; ssh said:"
        sed 's/^/  /' "$tmp/ssh-probe.err" >&2
        echo "sshd log:" >&2
        sed 's/^/  /' "$tmp/sshd.log" >&2 || true
        exit 1
    fi
    sleep 0.2
done

# --- the throwaway appliance and its agent -------------------------------------------------------

# Prints the end of a log file, indented, after a failure.
show_log() {
    echo "$1 ($2):" >&2
    if [ -s "$2" ]; then tail -n 40 "$2" | sed 's/^/  /' >&2; else echo "  (empty)" >&2; fi
}

watch=()
if [ "$own_appliance" -eq 1 ]; then
    jump_dir=$tmp/jump
    mkdir -p "$jump_dir"
    # jumpctl keeps its login under XDG_CONFIG_HOME; the measured jumpctl finds it there too.
    export XDG_CONFIG_HOME=$jump_dir/jumpctl-config
    jumpctl() { "$bin/jumpctl" "$@"; }
    agent_port=$(free_port)
    api_port=$(free_port)
    while [ "$api_port" = "$agent_port" ] || [ "$api_port" = "$port" ] || [ "$agent_port" = "$port" ]; do
        agent_port=$(free_port)
        api_port=$(free_port)
    done

    log "starting the appliance (agents 127.0.0.1:$agent_port, API 127.0.0.1:$api_port, data in $jump_dir/data)"
    "$bin/jump-server" run --data-dir "$jump_dir/data" --agent-listen "127.0.0.1:$agent_port" \
        --api-listen "127.0.0.1:$api_port" --log-level warning >"$jump_dir/server.log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    login=(login --server "https://127.0.0.1:$api_port" --user admin --ca "$jump_dir/data/ca.pem")
    deadline=$((SECONDS + appliance_start_timeout_s))
    until [ -s "$jump_dir/data/initial-admin-password" ] &&
        jumpctl "${login[@]}" <"$jump_dir/data/initial-admin-password" >"$jump_dir/login.log" 2>&1; do
        if ! kill -0 "$server_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            log "the appliance did not accept admin's login within $appliance_start_timeout_s s"
            show_log "jumpctl login" "$jump_dir/login.log"
            show_log "appliance log" "$jump_dir/server.log"
            exit 1
        fi
        sleep 0.2
    done

    log "creating an installer; enrolling and starting a local agent as $endpoint"
    jumpctl installer create --group Default --expires 1h --allow-override name,install-dir \
        --output "$jump_dir/installer.json" >&2
    "$bin/jump-agent" enroll --installer "$jump_dir/installer.json" --dir "$jump_dir/agent" \
        --name "$endpoint" >&2
    # Session shells run as whoever runs this script, like the ssh target's.
    "$bin/jump-agent" run --dir "$jump_dir/agent" --log-level warning --session-user "$user" \
        >"$jump_dir/agent.log" 2>&1 &
    agent_pid=$!
    pids+=("$agent_pid")
    deadline=$((SECONDS + agent_online_timeout_s))
    until jumpctl client list --json 2>/dev/null | grep -q '"status" : "online"'; do
        if ! kill -0 "$agent_pid" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
            log "the agent did not come online within $agent_online_timeout_s s"
            jumpctl client list >&2 || true
            show_log "agent log" "$jump_dir/agent.log"
            show_log "appliance log" "$jump_dir/server.log"
            exit 1
        fi
        sleep 0.2
    done

    log "giving admin the role Operator (start-sessions) in the Default group"
    jumpctl role create Operator --permission start-sessions >&2
    jumpctl group add-member Default admin --role Operator >&2

    # One non-interactive session first, so that a refusal shows here with its reason rather than as a
    # shell that never becomes ready. $((6 * 7)) keeps the echoed input from matching.
    log "checking that jumpctl jump $endpoint runs a command"
    if ! printf 'echo JUMP-PROBE-$((6 * 7))\nexit\n' |
        timeout "$jump_probe_timeout_s" "$bin/jumpctl" jump "$endpoint" >"$jump_dir/probe.log" 2>&1 ||
        ! grep -q 'JUMP-PROBE-42' "$jump_dir/probe.log"; then
        log "jumpctl jump $endpoint did not run a command"
        show_log "jumpctl jump" "$jump_dir/probe.log"
        jumpctl simulate --user admin --method jump --client "$endpoint" >&2 || true
        show_log "agent log" "$jump_dir/agent.log"
        show_log "appliance log" "$jump_dir/server.log"
        exit 1
    fi
    JUMP_TARGET="$(printf '%q' "$bin/jumpctl") jump $endpoint"
    watch=(--watch-pid "appliance=$server_pid" --watch-pid "agent=$agent_pid")
    log "appliance pid $server_pid, agent pid $agent_pid; XDG_CONFIG_HOME=$XDG_CONFIG_HOME"
fi

# --- the benchmark -------------------------------------------------------------------------------

targets=()
if [ "$with_jump" -eq 1 ]; then
    targets+=(--target "jump=$JUMP_TARGET")
fi
ssh_tty=("${ssh_cmd[0]}" -tt "${ssh_cmd[@]:1}")
targets+=(--target "ssh=${ssh_tty[*]@Q}" --target "local=bash --norc -i")

# Not exec: the EXIT trap must still stop what was started here. In the background with wait, since
# bash runs a trap only once the foreground command ends: a SIGTERM to this script alone then stops
# the benchmark (its sessions get SIGHUP when their terminals close) and everything else at once. A
# later --output in the arguments wins; the Python prints the path.
status=0
"$python" Benchmarks/SessionBenchmark/session_bench.py "${targets[@]}" "${watch[@]}" --output "$output" \
    "${bench_args[@]}" &
bench_pid=$!
pids+=("$bench_pid")
wait "$bench_pid" || status=$?
exit "$status"
