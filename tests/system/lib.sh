# Shared helpers for the scripts in tests/system (sourced, not run).
# shellcheck shell=bash disable=SC2034  # the variables are for the scripts that source this

SYSTEM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SYSTEM_DIR/../.." && pwd)
IMAGE=localhost/blinkt-bookworm-systemd:latest
CACHE_DIR=${XDG_CACHE_HOME:-$HOME/.cache}/blinkt-agent
export CONTAINERS_CONF=$SYSTEM_DIR/containers.conf

log() { printf '%s: %s\n' "${0##*/}" "$*" >&2; }
die() { log "$*"; exit 1; }

# Install the named Debian packages unless all are installed already, so a
# second run costs one dpkg-query and no network.
ensure_pkgs() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null | grep -qx installed \
            || missing+=("$pkg")
    done
    ((${#missing[@]} == 0)) && return 0
    log "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Debian mirror the host's apt uses (deb822 or one-line format).
host_mirror() {
    local uri
    uri=$(sed -n 's|^URIs:[[:space:]]*\([^[:space:]]*/debian\)/\{0,1\}[[:space:]]*$|\1|p' \
        /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1)
    [[ -n $uri ]] || uri=$(sed -n 's|^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*/debian\)/\{0,1\}[[:space:]]\{1,\}bookworm[[:space:]].*|\2|p' \
        /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | head -n1)
    echo "${uri:-http://deb.debian.org/debian}"
}
