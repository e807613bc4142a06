#!/usr/bin/env bash
# Mint the kubeconfig blinkt-agent uses on the Pis: the API server's URL and CA,
# and a token of the service account blinkt-agent (rbac.yaml beside this script).
# Run it where kubectl reaches the cluster as an admin (on a k3s server:
# KUBECONFIG=/etc/rancher/k3s/k3s.yaml); README.md beside it says the whole way.
#
#   make-kubeconfig.sh --server https://192.0.2.10:6443 -o blinkt-agent.kubeconfig
#
# The token comes from the Secret blinkt-agent-token (token-secret.yaml: valid
# until the Secret is deleted), or with --duration from `kubectl create token`
# (valid that long). With --server, --ca-file and --token-file kubectl is not
# needed at all. The token is never printed except into the kubeconfig.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: make-kubeconfig.sh [options]

  --server URL            the API server as the Pis reach it, https://HOST:PORT
                          (default: the kubectl context's, unless that is a
                          loopback address such as k3s' own https://127.0.0.1:6443)
  --context NAME          the kubectl context to read (default: the current one)
  --namespace NS          the service account's namespace (default: blinkt-agent)
  --service-account NAME  the service account (default: blinkt-agent)
  --secret NAME           the token Secret (default: blinkt-agent-token)
  --duration D            a token from `kubectl create token --duration D`
                          (e.g. 8760h) instead of the Secret's
  --wait SECONDS          how long to wait for the token controller to fill in
                          the Secret (default: 30)
  --ca-file FILE          the CA certificate (PEM) instead of the context's
  --token-file FILE       the token from this file instead of the cluster
  -o, --output FILE       write the kubeconfig there (mode 0600), not to stdout
  -h, --help              this text
EOF
}

die() {
    printf 'make-kubeconfig.sh: %s\n' "$*" >&2
    exit 1
}

server="" context="" namespace=blinkt-agent account=blinkt-agent secret=blinkt-agent-token
duration="" wait_s=30 ca_file="" token_file="" output=""
while (($#)); do
    case $1 in
    -h | --help) usage; exit 0 ;;
    --server | --context | --namespace | --service-account | --secret | --duration | \
        --wait | --ca-file | --token-file | -o | --output)
        (($# >= 2)) || die "$1 needs a value"
        case $1 in
        --server) server=$2 ;;
        --context) context=$2 ;;
        --namespace) namespace=$2 ;;
        --service-account) account=$2 ;;
        --secret) secret=$2 ;;
        --duration) duration=$2 ;;
        --wait) wait_s=$2 ;;
        --ca-file) ca_file=$2 ;;
        --token-file) token_file=$2 ;;
        -o | --output) output=$2 ;;
        esac
        shift 2
        ;;
    *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ $wait_s =~ ^[0-9]+$ ]] || die "--wait must be a number of seconds, got '$wait_s'"

# kubectl with the chosen context, reading what it would use for that context.
kube() {
    if [[ -n $context ]]; then
        kubectl --context "$context" "$@"
    else
        kubectl "$@"
    fi
}
cluster_field() {
    kube config view --raw --minify --flatten -o "jsonpath={.clusters[0].cluster.$1}"
}

# --- the server ------------------------------------------------------------------
if [[ -z $server ]]; then
    server=$(cluster_field server) || die "kubectl cannot read the context's cluster"
    [[ -n $server ]] || die "the kubectl context names no server: give --server"
    # The Pis run the agent: an address that means "this machine" is another Pi to them.
    if [[ $server =~ ^https?://(127\.[0-9.]+|localhost|\[::1\])(:|/|$) ]]; then
        die "the kubectl context's server is $server, which on a Pi is the Pi itself" \
            "(k3s' own kubeconfig says so): give --server https://<the server's address>:6443"
    fi
fi
[[ $server =~ ^https://[^/[:space:]]+/?$ ]] \
    || die "--server must look like https://HOST:PORT (the agent speaks TLS only), got '$server'"
server=${server%/}

# --- the CA that signed the server's certificate ------------------------------------
if [[ -n $ca_file ]]; then
    [[ -r $ca_file ]] || die "cannot read --ca-file $ca_file"
    grep -q -- '-----BEGIN CERTIFICATE-----' "$ca_file" || die "$ca_file is not a PEM certificate"
    ca_data=$(base64 <"$ca_file" | tr -d '\n')
else
    ca_data=$(cluster_field certificate-authority-data) || die "kubectl cannot read the context's cluster"
    [[ -n $ca_data ]] || die "the kubectl context has no certificate-authority-data: give --ca-file"
fi

# --- the token ----------------------------------------------------------------------
if [[ -n $token_file ]]; then
    [[ -r $token_file ]] || die "cannot read --token-file $token_file"
    token=$(<"$token_file")
elif [[ -n $duration ]]; then
    token=$(kube --namespace "$namespace" create token "$account" --duration "$duration") \
        || die "kubectl create token $account (namespace $namespace) failed: is rbac.yaml applied?"
else
    # The token controller fills the Secret in moments after it is created.
    token=""
    for ((waited = 0; ; waited++)); do
        encoded=$(kube --namespace "$namespace" get secret "$secret" -o 'jsonpath={.data.token}') \
            || die "kubectl cannot read the Secret $namespace/$secret: is token-secret.yaml applied?"
        if [[ -n $encoded ]]; then
            token=$(printf '%s' "$encoded" | base64 --decode) \
                || die "the Secret $namespace/$secret holds a token that is not base64"
            break
        fi
        ((waited < wait_s)) \
            || die "the Secret $namespace/$secret has no token after ${wait_s} s: is it of type" \
                "kubernetes.io/service-account-token, annotated with the service account" \
                "$account, and does that account exist?"
        sleep 1
    done
fi
# $(...) has dropped trailing newlines; anything else a header cannot carry is refused.
[[ -n $token ]] || die "the token is empty"
[[ $token =~ ^[!-~]+$ ]] || die "the token has spaces or characters an HTTP header cannot carry"

# --- the kubeconfig -----------------------------------------------------------------
# Single-quoted YAML scalars: a quote inside is written twice.
quoted() { printf "'%s'" "${1//\'/\'\'}"; }
kubeconfig() {
    cat <<EOF
# blinkt-agent's kubeconfig (deploy/kubernetes/make-kubeconfig.sh): service account
# $namespace/$account. It holds a token: keep it in an Ansible vault.
apiVersion: v1
kind: Config
clusters:
  - name: cluster
    cluster:
      server: $(quoted "$server")
      certificate-authority-data: $(quoted "$ca_data")
users:
  - name: blinkt-agent
    user:
      token: $(quoted "$token")
contexts:
  - name: blinkt-agent
    context:
      cluster: cluster
      user: blinkt-agent
current-context: blinkt-agent
EOF
}

if [[ -n $output ]]; then
    (umask 077 && kubeconfig >"$output")
    chmod 0600 "$output"  # a file that existed keeps its mode otherwise
    printf 'make-kubeconfig.sh: wrote %s (server %s, service account %s/%s)\n' \
        "$output" "$server" "$namespace" "$account" >&2
else
    kubeconfig
fi
