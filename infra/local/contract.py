"""Schema fuzzing of the whole API: schemathesis over every operation of the document the stack
serves (GET /openapi.json), as each role of the demo data and without a key.

Run by `make test-contract` under with-stack.sh (TRIBUTARY_STACK_FILE names the stack). Checks:
no 5xx, every status documented for its operation, every response's content type and body
conforming to the document.

Bounded to fit CI (about 18 requests a second reach the local stack): every caller runs the
documented examples and CONTRACT_MAX_EXAMPLES (12) generated cases per operation; the vendor admin,
who reaches the most validation, also runs the coverage phase (boundary values, missing and
mistyped fields: about 3,500 requests). CONTRACT_COVERAGE=all runs it for every caller. The seed
is fixed so that a failure reproduces (CONTRACT_SEED). Exits non-zero when any run fails; the
JUnit reports are in .local/contract/.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
ROLES = ["partner", "distributor", "channel_manager", "vendor_admin"]


def keys_by_role(demo: dict) -> dict[str, str]:
    """One demo key per role (the first listed), for a caller of each kind."""
    keys: dict[str, str] = {}
    for key in demo["keys"]:
        keys.setdefault(key["role"], key["api_key"])
    missing = [role for role in ROLES if role not in keys]
    if missing:
        raise SystemExit(f"the demo data has no key for {missing}")
    return keys


def run(api_url: str, caller: str, key: str | None, reports: Path) -> bool:
    coverage = os.environ.get("CONTRACT_COVERAGE", "vendor_admin")
    phases = "examples,coverage,fuzzing" if coverage in ("all", caller) else "examples,fuzzing"
    command = [
        str(ROOT / ".venv/bin/schemathesis"), "run", f"{api_url}/openapi.json",
        "--checks", CHECKS,
        "--max-examples", os.environ.get("CONTRACT_MAX_EXAMPLES", "12"),
        "--seed", os.environ.get("CONTRACT_SEED", "20261201"),
        "--phases", phases,
        "--workers", "2",
        "--request-timeout", "60",
        "--wait-for-schema", "120",
        "--generation-database", "none",
        "--no-color",
        "--report", "junit", "--report-junit-path", str(reports / f"{caller}.xml"),
    ]
    if key:
        command += ["--header", f"Authorization: Bearer {key}"]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT)
    print(f"--- schemathesis as {caller}: {'passed' if result.returncode == 0 else 'FAILED'} "
          f"in {time.monotonic() - started:.0f} s", flush=True)
    return result.returncode == 0


def main() -> int:
    state = json.loads(Path(os.environ["TRIBUTARY_STACK_FILE"]).read_text())
    keys = keys_by_role(state["demo"])
    reports = ROOT / ".local" / "contract"
    reports.mkdir(parents=True, exist_ok=True)
    callers = [(role, keys[role]) for role in ROLES] + [("no-key", None)]
    only = os.environ.get("CONTRACT_CALLERS")
    if only:
        callers = [c for c in callers if c[0] in only.split(",")]
    failed = [caller for caller, key in callers if not run(state["api_url"], caller, key, reports)]
    if failed:
        print(f"schemathesis failed as: {', '.join(failed)} (reports in {reports})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
