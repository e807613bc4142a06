#!/usr/bin/env bash
# The proofs of the Debian package and its unit in a booted bookworm container
# (`make system` builds the package and the image first). Extra arguments go to
# pytest, e.g. `tests/system/run.sh -k watchdog`.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

ensure_pkgs podman runc uidmap slirp4netns fuse-overlayfs dpkg-dev
cd "$REPO_ROOT"
version=$(dpkg-parsechangelog -S Version)
[[ -f dist/blinkt-agent_${version}_all.deb ]] \
    || die "dist/blinkt-agent_${version}_all.deb is missing: run make deb"
podman image exists "$IMAGE" || die "$IMAGE is missing: run make image"
[[ -x .venv/bin/pytest ]] || die ".venv is missing: run make venv"
exec .venv/bin/pytest -p no:cacheprovider -v tests/system "$@"
