#!/usr/bin/env bash
# Run the molecule scenarios against booted bookworm containers (podman).
#
#   molecule/run.sh               every scenario (default, fleet)
#   molecule/run.sh fleet         only the named ones
#
# For each scenario a fresh simulator (simulated Nomad API + Consul DNS from
# blinkt_agent.sim) listens on the host's loopback; the containers share the
# host's network, so the agents reach it at the same 127.0.0.1 addresses.
# Its addresses and the .deb reach molecule as BLINKT_SIM_NOMAD_ADDR,
# BLINKT_SIM_DNS and BLINKT_AGENT_DEB.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/venv.sh"
cd "$REPO_ROOT"

log() { printf 'molecule/run.sh: %s\n' "$*" >&2; }

# `make molecule` has made these already (its prerequisites); alone, make them here.
if [[ -z ${MAKELEVEL:-} ]]; then
    make --no-print-directory venv deb image
fi
ensure_ansible_venv

# The podman settings this machine needs (/work/shared/TEST-INFRA.md).
export CONTAINERS_CONF=$REPO_ROOT/tests/system/containers.conf
export PATH=$ANSIBLE_BIN:$PATH
# Keep Ansible's state (collections cache, temp files) out of ~/.ansible.
export ANSIBLE_HOME=$REPO_ROOT/.cache/ansible
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0}
export PY_COLORS=${PY_COLORS:-0}

# The newest .deb in dist/ is the one `make deb` just built from this tree.
deb=$(ls -t dist/blinkt-agent_*_all.deb 2>/dev/null | head -n1)
[[ -n $deb ]] || { log "no dist/blinkt-agent_*_all.deb: run make deb"; exit 1; }
export BLINKT_AGENT_DEB=$REPO_ROOT/$deb

sim_pid=""
sim_dir=$(mktemp -d)
stop_sim() {
    if [[ -n $sim_pid ]]; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
        sim_pid=""
    fi
}
trap 'stop_sim; rm -rf "$sim_dir"' EXIT

start_sim() {
    local line="" i
    : >"$sim_dir/sim.out"
    .venv/bin/python -m blinkt_agent.sim --host 127.0.0.1 --nomad-port 0 --dns-port 0 \
        --node pi-01 --node pi-02 --allocs 3 >"$sim_dir/sim.out" 2>"$sim_dir/sim.err" &
    sim_pid=$!
    # Its first line says where it listens: `sim: nomad http://H:P dns H:P nodes=...`.
    for ((i = 0; i < 100; i++)); do
        line=$(head -n1 "$sim_dir/sim.out")
        [[ -n $line ]] && break
        kill -0 "$sim_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! $line =~ ^sim:\ nomad\ (http://[^ ]+)\ dns\ ([^ ]+)\  ]]; then
        log "the simulator did not start: ${line:-no output}"
        cat "$sim_dir/sim.err" >&2
        exit 1
    fi
    export BLINKT_SIM_NOMAD_ADDR=${BASH_REMATCH[1]} BLINKT_SIM_DNS=${BASH_REMATCH[2]}
    log "simulator: nomad $BLINKT_SIM_NOMAD_ADDR, dns $BLINKT_SIM_DNS"
}

scenarios=("$@")
((${#scenarios[@]})) || scenarios=(default fleet)

summary=()
total_start=$SECONDS
for scenario in "${scenarios[@]}"; do
    start_sim
    start=$SECONDS
    log "scenario $scenario"
    if ! molecule test --scenario-name "$scenario"; then
        log "scenario $scenario FAILED; simulator log:"
        tail -n 20 "$sim_dir/sim.err" >&2
        exit 1
    fi
    stop_sim
    summary+=("$scenario $((SECONDS - start)) s")
done
log "passed: ${summary[*]}; total $((SECONDS - total_start)) s"
