#!/usr/bin/env bash
# Build dist/blinkt-agent_<version>_all.deb with dpkg-buildpackage from a clean
# copy of the source tree (the checkout stays untouched), then check it:
# lintian with errors and warnings failing, `systemd-analyze verify` of the
# installed unit printing nothing.
#
#   build-deb.sh                       the package of this tree, into dist/
#   build-deb.sh --bump V --out DIR    the same tree as version V (both version
#                                      places), for the upgrade proof
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/lib.sh"

bump="" out=$REPO_ROOT/dist lint=1
while (($#)); do
    case $1 in
    --bump) bump=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-lint) lint=0; shift ;;
    *) die "unknown argument: $1" ;;
    esac
done

# The build must see Debian's python3, not a pyenv or venv one earlier in PATH.
# man-db: `systemd-analyze verify` looks up the unit's man: documentation.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
ensure_pkgs dpkg-dev debhelper dh-python pybuild-plugin-pyproject python3 python3-setuptools \
    lintian systemd procps man-db

work=$(mktemp -d /var/tmp/blinkt-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$work/blinkt-agent
mkdir -p "$src" "$out"
# Exactly the source tree: tracked and new files, nothing .gitignore'd (venv, dist, caches).
(cd "$REPO_ROOT" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e $f ]] && printf '%s\0' "$f"; done \
    | tar --null -T - -cf -) | tar -C "$src" -xf -
cd "$src"
dpkg-checkbuilddeps

if [[ -n $bump ]]; then
    sed -i "s/^__version__ = .*/__version__ = \"$bump\"/" blinkt_agent/__init__.py
    { printf 'blinkt-agent (%s) bookworm; urgency=medium\n\n  * Rebuild as %s.\n\n -- %s  %s\n\n' \
        "$bump" "$bump" "$(dpkg-parsechangelog -S Maintainer)" "$(date -R)"
      cat debian/changelog; } >debian/changelog.new
    mv debian/changelog.new debian/changelog
fi
version=$(dpkg-parsechangelog -S Version)
deb=blinkt-agent_${version}_all.deb

start=$EPOCHREALTIME
dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1 \
    || { tail -n 40 "$work/build.log" >&2; die "dpkg-buildpackage failed"; }
log "built blinkt-agent $version in $(awk "BEGIN{printf \"%.1f\", $EPOCHREALTIME - $start}") s"

if ((lint)); then
    # Errors and warnings fail; --allow-root only silences "running with root
    # privileges is not recommended", which is not a tag.
    lintian --allow-root --fail-on error,warning "$work/blinkt-agent_${version}_"*.changes \
        || die "lintian found problems"
    # verify exits 0 on warnings (unknown keys, bad values): any output fails.
    # It checks that ExecStart= exists and that man: links resolve, so it runs
    # in a private mount namespace where the package's /usr/bin is overlaid on
    # the host's (the host itself is not touched), with the package's man pages.
    pkg=$work/root
    dpkg-deb -x "$work/$deb" "$pkg"
    rc=0
    # shellcheck disable=SC2016  # $1 is expanded by the inner sh
    verify=$(MANPATH=$pkg/usr/share/man unshare --mount sh -c '
        mount -t overlay overlay -o lowerdir="$1/usr/bin:/usr/bin" /usr/bin &&
        exec systemd-analyze verify "$1/lib/systemd/system/blinkt-agent.service"' _ "$pkg" 2>&1) \
        || rc=$?
    [[ -z $verify && $rc == 0 ]] || die "systemd-analyze verify (exit $rc): $verify"
fi
cp "$work/$deb" "$out/"
log "$out/$deb"
