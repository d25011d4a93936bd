#!/usr/bin/env bash
# Shared setup for scripts/up.sh and scripts/test.sh: uv and the project's virtual environment.
# Sourced, not run. Idempotent and quiet when everything is in place.

ensure_uv() {
    if ! command -v uv >/dev/null 2>&1; then
        echo "[kiverbund] installing uv (Python package manager) with pip" >&2
        python3 -m pip install --quiet --disable-pip-version-check uv
    fi
}

# Install the locked dependencies into .venv (extras as arguments, e.g. --all-extras).
sync_venv() {
    ensure_uv
    uv sync --frozen --quiet "$@"
}

# Debian packages the project needs at run or test time; installs only what is missing.
ensure_debian_packages() {
    local missing=()
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    echo "[kiverbund] installing Debian packages: ${missing[*]}" >&2
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}
