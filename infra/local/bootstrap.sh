#!/usr/bin/env bash
# Creates the project-local virtualenv (.venv) with moto's server, cargo-lambda, cfn-lint, SAM CLI
# and zig. Idempotent: does nothing when .venv already matches requirements.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.venv"
requirements="$root/infra/local/requirements.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed")'
echo "setting up $venv (moto, cargo-lambda, cfn-lint, sam, zig)..." >&2
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" > "$stamp"
echo "ready: $venv" >&2
