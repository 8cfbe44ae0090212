#!/usr/bin/env bash
# Create .venv (if needed) and install imagelock in it, editable, with its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  if ! python3 -m venv .venv 2>/dev/null; then
    # Debian's python3 needs python3-venv for `-m venv`.
    rm -rf .venv
    if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    else sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null; fi
    python3 -m venv .venv
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# pip's output (an editable-install notice among it) is shown only when the install fails.
if ! out=$(.venv/bin/python -m pip install -q -e '.[test]' 2>&1); then
  printf '%s\n' "$out" >&2
  echo "venv: pip could not install imagelock with its test extra" >&2
  exit 1
fi
.venv/bin/python -c 'import imagelock, typer, tomlkit, httpx, python_on_whales' \
  || { echo "venv: imagelock or its dependencies failed to install" >&2; exit 1; }
