# Sourced by molecule/lint.sh and molecule/run.sh: make .venv-ansible exist
# with molecule/requirements.txt installed, once per change of that file.
# shellcheck shell=bash

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ANSIBLE_VENV=$REPO_ROOT/.venv-ansible
ANSIBLE_BIN=$ANSIBLE_VENV/bin

ensure_ansible_venv() {
    local req=$REPO_ROOT/molecule/requirements.txt stamp=$ANSIBLE_VENV/.stamp want
    want=$(sha256sum "$req" | cut -d' ' -f1)
    if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
        return 0
    fi
    echo "${0##*/}: installing the Ansible tools into .venv-ansible (about a minute)" >&2
    "${PY:-python3}" -m venv "$ANSIBLE_VENV"
    # pip's output only matters when it fails.
    "$ANSIBLE_BIN/pip" install --quiet --disable-pip-version-check -r "$req" \
        >"$ANSIBLE_VENV/pip.log" 2>&1 || { tail -n 30 "$ANSIBLE_VENV/pip.log" >&2; return 1; }
    echo "$want" >"$stamp"
}
