#!/usr/bin/env bash
# Run every check imagelock has: provision the real engine + registry, install the package
# with its test tools in .venv, then ruff, mypy and the whole pytest suite (unit + integration).
# Usage: bash scripts/test.sh [PYTEST ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

as_root bash scripts/test-env.sh
bash scripts/venv.sh

echo "== ruff" >&2
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy" >&2
.venv/bin/mypy
echo "== pytest" >&2
exec .venv/bin/pytest "$@"
