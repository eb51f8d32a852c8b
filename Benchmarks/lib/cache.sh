# The enrollment cache shared by the scale benchmarks: appliance data with enrolled Jump Clients (no
# statistics yet: each run starts the appliance on a copy of it) and the agents' files, enrolled by
# jump-loadgen, reused between runs. Source after common.sh; needs cache and per_process.
#   ensure_enrolled COUNT    sets pristine (the appliance data) and agents (the agents' cache)
ensure_enrolled() {
    local count=$1
    mkdir -p "$cache"
    pristine=$cache/appliance
    agents=$cache/agents
    local enrolled
    enrolled=$(cat "$cache/enrolled" 2>/dev/null || echo 0)
    [ -d "$pristine" ] || enrolled=0
    [ "$enrolled" -ge "$count" ] && return 0
    log "enrolling clients $enrolled..$count into $cache (once; later runs reuse them)"
    [ "$enrolled" -eq 0 ] && rm -rf "$pristine" "$agents"
    [ -s "$cache/agent-port" ] || free_port >"$cache/agent-port"
    start_appliance "$pristine" "$(cat "$cache/agent-port")" "$(free_port)"
    jumpctl settings set connection-rate 300 >/dev/null
    jumpctl installer create --group Default --expires 1d --output "$work/installer.json" >/dev/null
    local missing=$((count - enrolled)) pids=() i first n
    local processes=$(((missing + per_process - 1) / per_process))
    for i in $(seq 0 $((processes - 1))); do
        first=$((enrolled + i * per_process))
        n=$((count - first < per_process ? count - first : per_process))
        "$bin/jump-loadgen" enroll --cache "$agents" --first "$first" --agents "$n" \
            --installer "$work/installer.json" --source "$(source_address "$i")" >"$work/enroll-$i.log" 2>&1 &
        pids+=($!)
        started $!
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || { tail -n 5 "$work"/enroll-*.log >&2; die "enrollment failed (the end of each process's log above)"; }
    done
    stop_pid "$server_pid"
    echo "$count" >"$cache/enrolled"
    log "enrolled $count clients"
}

# The agent port the cached agents were enrolled with, when it is free now; else a free one (the
# agents' configuration is then rewritten by jump-loadgen --server).
agent_port() {
    local port
    port=$(cat "$cache/agent-port")
    "$python" -c 'import socket,sys; s=socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$port" 2>/dev/null || port=$(free_port)
    echo "$port"
}

# Starts jump-loadgen processes (run or hold) for N connections, per_process each, from their own
# loopback addresses; sets lg_pids and lg_files. The rest of the arguments go to every process.
#   start_loadgens NAME N MODE ARGS...
start_loadgens() {
    local name=$1 n=$2 mode=$3
    shift 3
    lg_pids=()
    lg_files=()
    local processes=$(((n + per_process - 1) / per_process)) i first count
    for i in $(seq 0 $((processes - 1))); do
        first=$((i * per_process))
        count=$((n - first < per_process ? n - first : per_process))
        local file=$work/$name-$n-$i.json
        rm -f "$file"
        if [ "$mode" = run ]; then
            "$bin/jump-loadgen" run --cache "$agents" --first "$first" --agents "$count" \
                --source "$(source_address "$i")" --json "$file" "$@" >"$work/$name-$n-$i.log" 2>&1 &
        else
            "$bin/jump-loadgen" hold --connections "$count" --source "$(source_address "$i")" \
                --json "$file" "$@" >"$work/$name-$n-$i.log" 2>&1 &
        fi
        lg_pids+=($!)
        lg_files+=("$file")
        started $!
    done
}
stop_loadgens() { local pid; for pid in "${lg_pids[@]}"; do stop_pid "$pid"; done; }
