#!/usr/bin/env bash
# Runs a command against a local stack started for it on spare ports (3100/5100/9100 unless
# TRIBUTARY_TEST_PORTS="api moto invoke" says otherwise), then stops the stack.
# The command finds the stack through TRIBUTARY_STACK_FILE. TRIBUTARY_TEST_STATE names another
# state and log file stem, so that two runs on other ports do not share them.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
read -r api moto invoke <<< "${TRIBUTARY_TEST_PORTS:-3100 5100 9100}"
stem="${TRIBUTARY_TEST_STATE:-$root/.local/test-stack}"
state="$stem.json"
log="$stem.log"
mkdir -p "$root/.local"
rm -f "$state"

"$root/.venv/bin/python" "$root/infra/local/stack.py" --api-port "$api" --moto-port "$moto" \
  --invoke-port "$invoke" --stack-name tributary-test --state-file "$state" --no-reload > "$log" 2>&1 &
stack_pid=$!
# SIGTERM: background jobs of a script ignore SIGINT.
trap 'kill -TERM $stack_pid 2>/dev/null; wait $stack_pid 2>/dev/null || true' EXIT

for _ in $(seq 1 900); do
  [ -f "$state" ] && break
  if ! kill -0 "$stack_pid" 2>/dev/null; then
    echo "the local stack did not start; its log ($log):" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
  sleep 0.2
done
[ -f "$state" ] || { echo "the local stack was not ready after 180s; see $log" >&2; exit 1; }

status=0
TRIBUTARY_STACK_FILE="$state" "$@" || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- last lines of the local stack's log ($log) ---" >&2
  tail -n 60 "$log" >&2
fi
exit "$status"
