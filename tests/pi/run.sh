#!/usr/bin/env bash
# The Debian package on an emulated Raspberry Pi 3B (`make pi` builds the package
# first): the SD image (built once, then cached; image.sh), then the proofs in
# one boot (test_emulated_pi.py). Extra arguments go to pytest.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/../system/lib.sh"

start=$EPOCHREALTIME
seconds() { awk "BEGIN{printf \"%.0f\", $2 - $1}"; }

ensure_pkgs qemu-system-arm dpkg-dev
cd "$REPO_ROOT"
deb=dist/blinkt-agent_$(dpkg-parsechangelog -S Version)_all.deb
[[ -f $deb ]] || die "$deb is missing: run make deb"
[[ -x .venv/bin/pytest ]] || die ".venv is missing: run make venv"

image=$(tests/pi/image.sh "$deb")
imaged=$EPOCHREALTIME
rc=0
# Every wait inside has its own timeout; this one bounds the whole run.
BLINKT_PI_IMAGE=$image timeout --signal=TERM --kill-after=60 1800 \
    .venv/bin/pytest -p no:cacheprovider -x -v --durations=0 tests/pi "$@" || rc=$?
log "SD image $(seconds "$start" "$imaged") s, emulated Pi $(seconds "$imaged" "$EPOCHREALTIME") s," \
    "total $(seconds "$start" "$EPOCHREALTIME") s (exit $rc)"
exit $rc
