#!/usr/bin/env bash
# ansible-lint (production profile) and yamllint over the role, the playbooks,
# the inventory and the molecule scenarios: any finding fails.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
source "$(dirname "$0")/venv.sh"
ensure_ansible_venv
cd "$REPO_ROOT"
export PATH=$ANSIBLE_BIN:$PATH
# Lint must not depend on what the user keeps in ~/.ansible.
export ANSIBLE_HOME=$REPO_ROOT/.cache/ansible
yamllint --strict roles inventory playbooks molecule .ansible-lint .yamllint
ansible-lint --profile production --strict roles playbooks molecule inventory
