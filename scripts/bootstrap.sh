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

# Docker Compose v2, only so that the tests can run the real `docker compose config` on infra/compose
# (no Docker engine is needed for that). Debian bookworm ships only Compose v1, so this takes trixie's
# static build (needs libc6 >= 2.34), pinned by the SHA256 from trixie's Packages index, and unpacks it
# into the git-ignored .tools/docker/cli-plugins, where the docker CLI finds it with
# DOCKER_CONFIG=.tools/docker (the same binary also runs alone as `docker-compose`).
COMPOSE_DEB_URL="http://deb.debian.org/debian/pool/main/d/docker-compose/docker-compose_2.26.1-4_amd64.deb"
COMPOSE_DEB_SHA256="47681197cb2b1ab88206b42a1a92fc75f50d9530a6322d03494a473eed0408ea"
KIVERBUND_TOOLS_DIR="${KIVERBUND_TOOLS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools}"

ensure_docker_compose() {
    local plugin="$KIVERBUND_TOOLS_DIR/docker/cli-plugins/docker-compose"
    local stamp="$plugin.sha256"
    if [[ -x $plugin && -f $stamp && $(<"$stamp") == "$COMPOSE_DEB_SHA256" ]]; then
        return 0
    fi
    if [[ $(dpkg --print-architecture) != amd64 ]]; then
        # Not fatal: only tests/unit/test_infra_compose.py needs it, and it says so when it is missing.
        echo "[kiverbund] no pinned docker-compose package for $(dpkg --print-architecture); install Compose v2 yourself" >&2
        return 0
    fi
    command -v curl >/dev/null 2>&1 || ensure_debian_packages curl
    echo "[kiverbund] installing docker compose 2.26.1 (Debian trixie build) into $KIVERBUND_TOOLS_DIR" >&2
    local tmp
    tmp=$(mktemp -d)
    if ! curl -fsSL --retry 3 -o "$tmp/compose.deb" "$COMPOSE_DEB_URL" ||
        ! echo "$COMPOSE_DEB_SHA256  $tmp/compose.deb" | sha256sum --check --quiet; then
        echo "[kiverbund] could not download or verify $COMPOSE_DEB_URL" >&2
        rm -rf "$tmp"
        return 1
    fi
    dpkg-deb -x "$tmp/compose.deb" "$tmp/root"
    mkdir -p "$(dirname "$plugin")"
    install -m 0755 "$tmp/root/usr/libexec/docker/cli-plugins/docker-compose" "$plugin"
    echo "$COMPOSE_DEB_SHA256" >"$stamp"
    rm -rf "$tmp"
}
