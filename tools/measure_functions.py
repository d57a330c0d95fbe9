"""Measures every function in infra/template.yaml: deployed binary size and init time.

- Size: the arm64 release binary that `sam build` ships (`cargo lambda build --release --arm64`).
- Init time: process start to the first `GET /runtime/invocation/next`, i.e. until the function
  is ready for its first event, with the same release profile built for this machine. A minimal
  Lambda Runtime API stands in for Lambda; the median and 90th percentile of --runs starts.

Prints a Markdown table for the README. Run with `make measure`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "infra" / "local"))
import template  # noqa: E402


class FakeRuntimeApi:
    """Answers nothing; records when a function first asks for an event."""

    def __init__(self):
        self.asked = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path.endswith("/runtime/invocation/next"):
                    outer.asked_at = time.perf_counter()
                    outer.asked.set()
                    time.sleep(2)  # the process is killed meanwhile
                self.send_response(500)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def init_time(self, binary: Path, env: dict) -> float:
        self.asked.clear()
        started = time.perf_counter()
        process = subprocess.Popen([str(binary)], env={**env, "AWS_LAMBDA_RUNTIME_API": self.address},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            if not self.asked.wait(10):
                raise SystemExit(f"{binary.name} never asked for an event")
            return self.asked_at - started
        finally:
            process.kill()
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()

    tpl = template.load(ROOT / "infra" / "template.yaml")
    resolver = template.Resolver(tpl, "measure", "http://127.0.0.1:9")
    functions = {f.binary: f for f in (template.describe_function(tpl, resolver, lid, r)
                                        for lid, r in tpl["Resources"].items()
                                        if r["Type"] == "AWS::Serverless::Function")}
    binaries = sorted(functions)
    bins = [a for b in binaries for a in ("--bin", b)]
    venv_bin = ROOT / ".venv" / "bin"
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ['PATH']}"}
    if not args.skip_build:
        subprocess.run(["cargo", "lambda", "build", "--release", "--arm64", *bins], cwd=ROOT, env=env, check=True)
        subprocess.run(["cargo", "build", "--release", *bins], cwd=ROOT, check=True)

    lambda_env = {
        "PATH": os.environ["PATH"], "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "x", "AWS_LAMBDA_FUNCTION_NAME": "measure",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_FUNCTION_VERSION": "1",
    }
    api = FakeRuntimeApi()
    rows = []
    for name in binaries:
        arm64 = ROOT / "target" / "lambda" / name / "bootstrap"
        native = ROOT / "target" / "release" / name
        function_env = {**lambda_env, **functions[name].environment}  # as the template sets it
        api.init_time(native, function_env)  # warm the page cache: Lambda measures a loaded image too
        times = sorted(api.init_time(native, function_env) for _ in range(args.runs))
        rows.append({
            "function": name,
            "arm64_bytes": arm64.stat().st_size,
            "init_ms_median": statistics.median(times) * 1000,
            "init_ms_p90": times[int(len(times) * 0.9) - 1] * 1000,
        })
    print("| function | arm64 binary | init, median | init, p90 |")
    print("|---|---:|---:|---:|")
    for row in rows:
        print(f"| {row['function']} | {row['arm64_bytes'] / 1e6:.1f} MB | {row['init_ms_median']:.1f} ms "
              f"| {row['init_ms_p90']:.1f} ms |")
    print(f"\n{args.runs} starts each on {os.cpu_count()} cores; raw: {json.dumps(rows)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
