#!/usr/bin/env bash
# Run the molecule scenarios against booted bookworm containers (podman).
#
#   molecule/run.sh               every scenario (default, fleet, kubernetes, displays)
#   molecule/run.sh fleet         only the named ones
#
# For each scenario a fresh simulator (simulated Nomad API + Consul DNS from
# blinkt_agent.sim) listens on the host's loopback; the containers share the
# host's network, so the agents reach it at the same addresses. As on real
# Pis, every simulated node is its own Nomad client agent on its own address
# (127.0.1.N, port 4646), advertised in the simulated Consul DNS the way real
# Consul answers (.addr. targets, 3 answers over UDP).
# Its addresses and the .deb reach molecule as BLINKT_SIM_NOMAD_ADDR,
# BLINKT_SIM_DNS and BLINKT_AGENT_DEB (BLINKT_AGENT_DEB_UPGRADE: the same tree
# as a higher version, for the upgrade step). The simulator enforces ACLs with a
# fresh token (BLINKT_SIM_TOKEN), which the role must deliver to the agent
# and must never print: a scenario whose output contains it fails.
#
# The displays scenario shows the same simulated Nomad on a traffic light (the
# RPi.GPIO double) and on a Unicorn HAT HD (the spidev double, tests/spidev_double).
#
# The kubernetes scenario gets a simulated k3s API server instead (HTTPS with a
# fresh CA, the RBAC of deploy/kubernetes/, nodes pi-01 and pi-02, 3 pods of a
# Deployment on pi-01), and the kubeconfig deploy/kubernetes/make-kubeconfig.sh
# mints for its service account's token, as DEPLOY.md tells a user:
# BLINKT_SIM_KUBE_URL, BLINKT_SIM_KUBE_CA, BLINKT_SIM_KUBECONFIG (and the token
# as BLINKT_SIM_KUBE_TOKEN), which must never be printed either.
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
deb=""
for candidate in dist/blinkt-agent_*_all.deb; do
    [[ -f $candidate && ( -z $deb || $candidate -nt $deb ) ]] && deb=$candidate
done
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

# The same tree as a newer version, for the upgrade step of the default
# scenario (the role must install it and restart the agent).
version=$(sed -n '1s/^blinkt-agent (\([^)]*\)).*/\1/p' debian/changelog)
tests/system/build-deb.sh --bump "$version+molecule1" --out "$sim_dir/upgrade" --no-lint
export BLINKT_AGENT_DEB_UPGRADE=$sim_dir/upgrade/blinkt-agent_${version}+molecule1_all.deb

BLINKT_SIM_TOKEN=$(cat /proc/sys/kernel/random/uuid)
export BLINKT_SIM_TOKEN

# The simulated nodes of each scenario, NAME=ADDRESS of its client agent. The fleet's
# hosts pi-a and pi-b each find their own client among six; the addresses are used by
# no test or benchmark (those take 127.0.1.161-212).
sim_nodes() {
    case $1 in
    fleet)
        echo --node pi-a=127.0.1.241 --node pi-b=127.0.1.242 --node pi-c=127.0.1.243 \
            --node pi-d=127.0.1.244 --node pi-e=127.0.1.245 --node pi-f=127.0.1.246
        ;;
    *) echo --node pi-01=127.0.1.231 --node pi-02=127.0.1.232 ;;
    esac
}

# launch_sim PATTERN COMMAND...: start a simulator in the background and wait for
# its first line, which says where it listens; BASH_REMATCH holds PATTERN's groups.
launch_sim() {
    local pattern=$1 line="" i
    shift
    : >"$sim_dir/sim.out"
    "$@" >"$sim_dir/sim.out" 2>"$sim_dir/sim.err" &
    sim_pid=$!
    for ((i = 0; i < 100; i++)); do
        line=$(head -n1 "$sim_dir/sim.out")
        [[ -n $line ]] && break
        kill -0 "$sim_pid" 2>/dev/null || break
        sleep 0.1
    done
    if [[ ! $line =~ $pattern ]]; then
        log "the simulator ($3) did not start: ${line:-no output}"
        cat "$sim_dir/sim.err" >&2
        exit 1
    fi
}

start_sim() {
    # Its first line says where it listens: `sim: nomad http://H:P dns H:P nodes=...`.
    # shellcheck disable=SC2046  # one word per flag
    launch_sim '^sim: nomad (http://[^ ]+) dns ([^ ]+) ' \
        .venv/bin/python -m blinkt_agent.sim --host 127.0.0.1 --nomad-port 0 --dns-port 0 \
        $(sim_nodes "$1") --agent-port 4646 --allocs 3 --token "$BLINKT_SIM_TOKEN"
    export BLINKT_SIM_NOMAD_ADDR=${BASH_REMATCH[1]} BLINKT_SIM_DNS=${BASH_REMATCH[2]}
    log "simulator: nomad $BLINKT_SIM_NOMAD_ADDR, dns $BLINKT_SIM_DNS"
}

# A k3s server's CA and its certificate for 127.0.0.1, made fresh for each run.
make_pki() {
    local d=$1
    openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.pem" \
        -days 2 -subj /CN=molecule-k3s-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout "$d/server.key" -out "$d/server.csr" \
        -subj /CN=k3s 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\n' >"$d/server.ext"
    openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
        -CAcreateserial -out "$d/server.pem" -days 2 -extfile "$d/server.ext" 2>/dev/null
}

start_kubernetes_sim() {
    local pki=$sim_dir/pki
    mkdir -p "$pki"
    make_pki "$pki"
    cat deploy/kubernetes/rbac.yaml - deploy/kubernetes/token-secret.yaml \
        >"$sim_dir/rbac.yaml" <<<"---"
    # Its first line: `sim-kubernetes: URL admin-token=TOKEN nodes=... pods=N ...`.
    launch_sim '^sim-kubernetes: (https://[^ ]+) ' \
        .venv/bin/python -m blinkt_agent.sim.kubernetes --host 127.0.0.1 --port 0 \
        --node pi-01 --node pi-02 --pods 3 --rbac "$sim_dir/rbac.yaml" \
        --tls-cert "$pki/server.pem" --tls-key "$pki/server.key"
    export BLINKT_SIM_KUBE_URL=${BASH_REMATCH[1]} BLINKT_SIM_KUBE_CA=$pki/ca.pem
    # A pod elsewhere in the cluster, which pi-01 must not show.
    curl -fsS --cacert "$BLINKT_SIM_KUBE_CA" -H 'Content-Type: application/json' \
        -d '{"namespace": "kube-system", "name": "svclb-x7k2p", "node": "pi-02"}' \
        "$BLINKT_SIM_KUBE_URL/_sim/pods" >/dev/null
    # The service account's token, as the token controller fills in token-secret.yaml.
    curl -fsS --cacert "$BLINKT_SIM_KUBE_CA" -H 'Content-Type: application/json' \
        -d '{"namespace": "blinkt-agent", "service_account": "blinkt-agent"}' \
        "$BLINKT_SIM_KUBE_URL/_sim/tokens" \
        | .venv/bin/python -c 'import json, sys; print(json.load(sys.stdin)["token"])' \
            >"$sim_dir/kube-token"
    BLINKT_SIM_KUBE_TOKEN=$(<"$sim_dir/kube-token")
    export BLINKT_SIM_KUBE_TOKEN  # for verify: never in config.toml, nor in the output
    deploy/kubernetes/make-kubeconfig.sh --server "$BLINKT_SIM_KUBE_URL" \
        --ca-file "$BLINKT_SIM_KUBE_CA" --token-file "$sim_dir/kube-token" \
        -o "$sim_dir/kubeconfig"
    export BLINKT_SIM_KUBECONFIG=$sim_dir/kubeconfig
    log "simulated k3s API server: $BLINKT_SIM_KUBE_URL"
}

scenarios=("$@")
((${#scenarios[@]})) || scenarios=(default fleet kubernetes displays)

# Molecule says when each action starts and ends; note the times, so that
# every run reports how long converge, idempotence and verify took.
timed_molecule() {
    local scenario=$1 line start=""
    molecule test --scenario-name "$scenario" 2>&1 | tee "$sim_dir/out.$scenario" | while IFS= read -r line; do
        printf '%s\n' "$line"
        if [[ $line == *"[$scenario > "*"] Executing"* ]]; then
            start=$EPOCHREALTIME
        elif [[ $line == *"[$scenario > "*"] Executed"* && -n $start ]]; then
            line=${line#*"[$scenario > "}
            echo "${line%%]*} $start $EPOCHREALTIME" >>"$sim_dir/times.$scenario"
            start=""
        fi
    done
}

summary=()
total_start=$EPOCHREALTIME
BLINKT_SIM_KUBE_TOKEN=""
for scenario in "${scenarios[@]}"; do
    if [[ $scenario == kubernetes ]]; then
        start_kubernetes_sim
    else
        start_sim "$scenario"
    fi
    start=$EPOCHREALTIME
    log "scenario $scenario"
    if ! timed_molecule "$scenario"; then
        log "scenario $scenario FAILED; simulator log:"
        tail -n 20 "$sim_dir/sim.err" >&2
        exit 1
    fi
    stop_sim
    # A dry run after converge (the configured host) must report no change.
    if ! awk -v s="$scenario" '
        index($0, "[" s " > converge] Executing") { converged = 1 }
        index($0, "[" s " > check] Executing") { in_check = converged }
        index($0, "[" s " > check] Executed") { in_check = 0 }
        in_check && / changed=[1-9]/ { bad = 1 }
        END { exit bad }' "$sim_dir/out.$scenario"; then
        log "scenario $scenario FAILED: --check on the configured host reports changes"
        exit 1
    fi
    if grep -qF "$BLINKT_SIM_TOKEN" "$sim_dir/out.$scenario"; then
        log "scenario $scenario FAILED: the Nomad ACL token appears in the output (no_log missing)"
        exit 1
    fi
    if [[ -n $BLINKT_SIM_KUBE_TOKEN ]] && grep -qF "$BLINKT_SIM_KUBE_TOKEN" "$sim_dir/out.$scenario"; then
        log "scenario $scenario FAILED: the kubeconfig's token appears in the output (no_log missing)"
        exit 1
    fi
    took=$(awk -v t0="$start" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.0f s", t1 - t0 }')
    actions=$(awk '{ printf "%s%s %.1f s", (NR > 1 ? ", " : ""), $1, $3 - $2 }' "$sim_dir/times.$scenario")
    summary+=("$scenario $took ($actions)")
done
for line in "${summary[@]}"; do log "passed: $line"; done
log "total: $(awk -v t0="$total_start" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.0f s", t1 - t0 }')"
