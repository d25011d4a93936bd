#!/usr/bin/env bash
# Install everything the tests need and run all of them: lint, unit, database (SQLite and a real
# PostgreSQL) and integration tests (real vLLM CPU engines, real hub processes, Debian Chromium).
# Usage: bash scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

ensure_debian_packages postgresql redis-server libtcmalloc-minimal4 chromium
ensure_docker_compose   # `docker compose config` checks infra/compose (tests/unit/test_infra_compose.py)
sync_venv --all-extras
# axe-core (accessibility checks injected into the browser tests), pinned in tests/browser/package-lock.json.
command -v npm >/dev/null 2>&1 || ensure_debian_packages nodejs npm
npm ci --prefix tests/browser --no-audit --no-fund
infra/local-vllm/local-vllm setup

echo "[kiverbund] ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "[kiverbund] pytest" >&2
exec .venv/bin/pytest -p no:cacheprovider "$@"
