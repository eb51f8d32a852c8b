# Shared by the scale benchmarks (scale.sh, handshake.sh, storm.sh, steady.sh, footprint.sh, heap.sh,
# cpu-profile.sh): a throwaway appliance and jumpctl logged in to it, processes stopped on exit, memory
# and CPU read from /proc, and JSON figures summed with python3. Source it after `cd` to the
# repository; it sets `bin`, `work` and a trap that stops everything started through `started`.

python=${PYTHON:-python3}
# How long the appliance may take to write its initial admin password and accept a login.
appliance_start_timeout_s=60
# How long a process may take to end after SIGTERM before it gets SIGKILL, on exit.
stop_timeout_s=10
# Clock ticks per second, for /proc/PID/stat CPU times.
clk_tck=$(getconf CLK_TCK)

log() { echo "$(basename "$0"): $*" >&2; }
die() { log "$*"; exit 1; }

# Installs Debian packages that are missing (idempotent; apt-get update only when something is).
need_packages() {
    local missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
}

# Builds the release products given (unless --no-build was given: build=0) and sets bin: the release
# build's directory, or JUMP_BENCH_BIN when set (programs of your own; heap.sh passes a jump-server
# that starts the real one under heaptrack).
build_products() {
    if [ "${build:-1}" -eq 1 ]; then
        for product in "$@"; do swift build -c release --product "$product" >&2; done
    fi
    bin=${JUMP_BENCH_BIN:-$(swift build -c release --show-bin-path)}
}

# What waking a sleeping process costs on this machine, on one core and across two, as JSON
# (Benchmarks/lib/wakeup.py; {} when it cannot run). Call it before starting anything: it is the
# machine's figure, beside which the appliance's CPU per report or per handshake reads.
wakeup_figures() { timeout 60 "$python" Benchmarks/lib/wakeup.py 2>/dev/null || echo '{}'; }

# The machine as handshake.sh and steady.sh record it (JSON): the wake-up figures given, cores,
# kernel, date and load average now. Print it with Benchmarks/lib/wakeup.py's describe().
#   machine_json WAKEUP_JSON
machine_json() {
    echo "{\"wakeUp\": $1, \"cores\": $(nproc), \"kernel\": \"$(uname -r)\", \"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\", \"loadAverage\": \"$(cut -d' ' -f1-3 /proc/loadavg)\"}"
}

# A TCP port on 127.0.0.1 that nobody listens on at the moment, chosen by the kernel.
free_port() {
    "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Every process started here, stopped on exit (SIGTERM, then SIGKILL after stop_timeout_s).
started_pids=()
started() { started_pids+=("$1"); }
stop_pid() {
    local pid=$1
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq $((stop_timeout_s * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${started_pids[@]}"; do stop_pid "$pid"; done
    [ -n "${work:-}" ] && [ "${keep_work:-0}" -eq 0 ] && rm -rf "$work"
    return 0
}
work=$(mktemp -d /tmp/jump-bench.XXXXXX)
trap cleanup EXIT
trap 'exit 130' INT TERM

# A process's descendants, children first, one PID a line.
descendants() {
    local child
    for child in $(pgrep -P "$1" || true); do
        echo "$child"
        descendants "$child"
    done
}

# VmRSS of a process, in KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
# The median of several VmRSS samples one second apart (memory moves a little while reports arrive).
rss_median_kib() {
    local pid=$1 samples=${2:-5} values=()
    for _ in $(seq "$samples"); do values+=("$(rss_kib "$pid")"); sleep 1; done
    printf '%s\n' "${values[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
# User + system CPU seconds a process has used so far.
cpu_seconds() { awk -v tck="$clk_tck" '{ printf "%.3f\n", ($14 + $15) / tck }' "/proc/$1/stat"; }
# A process's CPU so far split by where it ran: "USER SYSTEM" in seconds (utime and stime of
# /proc/PID/stat; system time includes the kernel's TCP work done on the process's behalf, on loopback
# the receiving end's too).
cpu_split_seconds() { awk -v tck="$clk_tck" '{ printf "%.3f %.3f\n", $14 / tck, $15 / tck }' "/proc/$1/stat"; }
# Context switches of all of a process's threads so far: "VOLUNTARY INVOLUNTARY" (a thread that went to
# sleep, one that was preempted).
context_switches() {
    cat "/proc/$1"/task/*/status 2>/dev/null |
        awk '/^voluntary_ctxt_switches:/ { v += $2 } /^nonvoluntary_ctxt_switches:/ { n += $2 } END { print v + 0, n + 0 }'
}
# Open file descriptors of a process.
fd_count() { ls "/proc/$1/fd" | wc -l; }

# Sums KEY over the JSON figure files given (missing files and keys count 0).
json_sum() {
    local key=$1
    shift
    "$python" - "$key" "$@" <<'PY'
import json, sys
key, total = sys.argv[1], 0
for path in sys.argv[2:]:
    try:
        value = json.load(open(path)).get(key) or 0
    except (OSError, ValueError):
        value = 0
    total += value
print(int(total) if float(total).is_integer() else total)
PY
}

# Waits until KEY summed over FILES reaches TARGET, or TIMEOUT seconds pass (then fails).
#   wait_sum KEY TARGET TIMEOUT FILE...
wait_sum() {
    local key=$1 target=$2 timeout=$3 value=0
    shift 3
    local deadline=$((SECONDS + timeout))
    while [ "$SECONDS" -lt "$deadline" ]; do
        value=$(json_sum "$key" "$@")
        [ "${value%.*}" -ge "$target" ] && return 0
        sleep 1
    done
    log "$key reached only $value of $target within $timeout s"
    return 1
}

# The appliance: jump-server on DATA with the agent and API ports given, logged in as admin through
# jumpctl (its configuration in $work/jumpctl). Sets server_pid.
#   start_appliance DATA AGENT_PORT API_PORT
start_appliance() { start_appliance_with "$@"; }
jumpctl() { "$bin/jumpctl" "$@"; }

# The loopback source address of loadgen process I (127.0.0.10 + I): each has its own ephemeral ports.
source_address() { echo "127.0.0.$((10 + $1))"; }

# start_appliance with more options for `jump-server run` after the ports (handshake.sh passes
# --unlimited-admission). Sets server_pid.
#   start_appliance_with DATA AGENT_PORT API_PORT OPTION...
start_appliance_with() {
    local data=$1 agent_port=$2 api_port=$3
    shift 3
    "$bin/jump-server" run --data-dir "$data" --agent-listen "127.0.0.1:$agent_port" \
        --api-listen "127.0.0.1:$api_port" --log-level error "$@" 2>>"$work/jump-server.log" &
    server_pid=$!
    started "$server_pid"
    export XDG_CONFIG_HOME="$work/jumpctl"
    local deadline=$((SECONDS + appliance_start_timeout_s))
    until [ -s "$data/initial-admin-password" ] && "$bin/jumpctl" login --server "https://127.0.0.1:$api_port" \
        --user admin --ca "$data/ca.pem" <"$data/initial-admin-password" >/dev/null 2>&1; do
        kill -0 "$server_pid" 2>/dev/null || die "jump-server stopped; see $work/jump-server.log"
        [ "$SECONDS" -lt "$deadline" ] || die "the appliance did not accept a login within $appliance_start_timeout_s s"
        sleep 0.2
    done
}

# Throwaway certificates for mosquitto and nats-server in DIR (P-256, as the appliance uses): ca.pem,
# server.pem/.key, client.pem/.key (the key in PKCS#8).
#   peer_pki DIR
peer_pki() {
    local pki=$1
    mkdir -p "$pki"
    openssl ecparam -name prime256v1 -genkey -noout -out "$pki/ca.key" 2>/dev/null
    openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=bench CA" -days 2 -out "$pki/ca.pem" 2>/dev/null
    for name in server client; do
        openssl ecparam -name prime256v1 -genkey -noout -out "$pki/$name.key.sec1" 2>/dev/null
        openssl pkcs8 -topk8 -nocrypt -in "$pki/$name.key.sec1" -out "$pki/$name.key"
        openssl req -new -key "$pki/$name.key" -subj "/CN=$name" -out "$pki/$name.csr" 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=%s\n' \
            "$([ $name = server ] && echo serverAuth || echo clientAuth)" >"$pki/$name.ext"
        openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial \
            -days 2 -extfile "$pki/$name.ext" -out "$pki/$name.pem" 2>/dev/null
    done
    chmod 0644 "$pki"/*
}

# Waits until something accepts TCP connections on 127.0.0.1:PORT.
wait_listening() {
    local deadline=$((SECONDS + 30))
    until "$python" -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || die "nothing listens on 127.0.0.1:$1"
        sleep 0.2
    done
}

# The protocol jump-loadgen hold speaks to a peer started by start_peer.
#   peer_protocol mosquitto|nats-server
peer_protocol() { [ "$1" = mosquitto ] && echo mqtt || echo nats; }

# mosquitto or nats-server on 127.0.0.1:PORT with TLS 1.3 and required client certificates from
# peer_pki PKI, as scale.sh configures them. Sets peer_pid once it listens.
#   start_peer mosquitto|nats-server PORT PKI
start_peer() {
    local name=$1 port=$2 pki=$3
    case $name in
        mosquitto)
            cat >"$work/mosquitto.conf" <<CONF
user root
persistence false
log_dest stderr
log_type error
max_connections -1
listener $port 127.0.0.1
cafile $pki/ca.pem
certfile $pki/server.pem
keyfile $pki/server.key
require_certificate true
tls_version tlsv1.3
allow_anonymous true
CONF
            /usr/sbin/mosquitto -c "$work/mosquitto.conf" 2>>"$work/mosquitto.log" &
            ;;
        nats-server)
            cat >"$work/nats.conf" <<CONF
listen: 127.0.0.1:$port
max_connections: 100000
tls {
  cert_file: "$pki/server.pem"
  key_file: "$pki/server.key"
  ca_file: "$pki/ca.pem"
  verify: true
  timeout: 10
}
CONF
            /usr/sbin/nats-server -c "$work/nats.conf" 2>>"$work/nats.log" &
            ;;
        *) die "start_peer: unknown server $name" ;;
    esac
    peer_pid=$!
    started "$peer_pid"
    wait_listening "$port"
}
