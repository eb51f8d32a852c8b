#!/usr/bin/env bash
# `make demo`: starts an appliance on its embedded store in a temporary directory, enrolls and runs a
# local agent, and shows the Jump Client online with its statistics. With a terminal it then keeps
# both running until Ctrl-C; without one it stops after showing them.
set -euo pipefail
cd "$(dirname "$0")/.."

bin=$(swift build --show-bin-path)
for program in jump-server jump-agent jumpctl; do
    printf '%-12s %s\n' "$program" "$("$bin/$program" --version)"
done

work=$(mktemp -d /tmp/jump-demo.XXXXXX)
agent_port=${DEMO_AGENT_PORT:-17443}
api_port=${DEMO_API_PORT:-18443}
export XDG_CONFIG_HOME="$work/jumpctl-config"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

echo
echo "== starting the appliance (data in $work/data)"
"$bin/jump-server" run --data-dir "$work/data" --agent-listen "127.0.0.1:$agent_port" \
    --api-listen "127.0.0.1:$api_port" --log-level warning &
pids+=($!)
for _ in $(seq 100); do
    [ -s "$work/data/initial-admin-password" ] && "$bin/jumpctl" login --server "https://127.0.0.1:$api_port" \
        --user admin --ca "$work/data/ca.pem" < "$work/data/initial-admin-password" >/dev/null 2>&1 && break
    sleep 0.1
done
"$bin/jumpctl" login --server "https://127.0.0.1:$api_port" --user admin --ca "$work/data/ca.pem" \
    < "$work/data/initial-admin-password"
"$bin/jumpctl" settings set statistics-interval 10

echo
echo "== creating an installer and installing a local agent in $work/agent (no systemd service for the demo)"
"$bin/jumpctl" installer create --group Default --expires 1h --allow-override name,install-dir \
    --output "$work/installer.json"
"$bin/jump-agent" install --installer "$work/installer.json" --install-dir "$work/agent" \
    --name demo-endpoint --no-service
"$work/agent/bin/jump-agent" run --log-level warning &
pids+=($!)
for _ in $(seq 50); do
    "$bin/jumpctl" client list --json | grep -q '"status" : "online"' && break
    sleep 0.1
done

echo
echo "== jumpctl client list"
"$bin/jumpctl" client list
echo
client=$("$bin/jumpctl" client list --json | sed -n 's/.*"id" : "\(jc-[0-9a-f]*\)".*/\1/p' | head -n 1)
echo "== jumpctl client show $client"
"$bin/jumpctl" client show "$client"
echo
echo "== $work/agent/bin/jump-agent status (the installed agent finds its files next to itself)"
"$work/agent/bin/jump-agent" status
echo
echo "== jumpctl simulate --user admin --method jump --client $client (what admin may do there, and why)"
"$bin/jumpctl" simulate --user admin --method jump --client "$client"

echo
echo "== a Jump: admin gets a Jump Item Role that starts sessions, then runs a short script on the endpoint"
"$bin/jumpctl" role create Operator --permission start-sessions
"$bin/jumpctl" group add-member Default admin --role Operator
printf 'uname -sr; id -un; exit\n' | "$bin/jumpctl" jump demo-endpoint --ticket DEMO-1
echo
echo "== jumpctl session list (every session is recorded: jumpctl session replay ID)"
"$bin/jumpctl" session list

cat <<TEXT

The appliance is at https://127.0.0.1:$api_port (agents: 127.0.0.1:$agent_port). To use it from
another shell:

    export XDG_CONFIG_HOME=$XDG_CONFIG_HOME      # or log in yourself:
    $bin/jumpctl login --server https://127.0.0.1:$api_port --user admin \\
        --ca $work/data/ca.pem < $work/data/initial-admin-password
    $bin/jumpctl client list
    $bin/jumpctl audit list

Jump into the demo agent (an interactive root shell; exit or Ctrl-D ends it):

    XDG_CONFIG_HOME=$XDG_CONFIG_HOME $bin/jumpctl jump demo-endpoint
TEXT

if [ -t 0 ]; then
    echo
    echo "Both keep running; press Ctrl-C to stop them and remove $work."
    wait "${pids[0]}"
fi
