"""The local stack: moto + the template's resources + the functions under cargo-lambda + API Gateway,
SQS event sources and schedules, on loopback. Ctrl-C stops everything it started.

Run it with `make up` (it sets up the virtualenv first). It writes what it started, with the demo
API keys, to the state file (.local/stack.json by default), which the end-to-end tests read.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3

import runtime
import template

ROOT = Path(__file__).resolve().parents[2]
LOCAL_OVERRIDES = {"WEBHOOK_ALLOW_LOOPBACK": "true", "NOTIFY_RETRY_BASE_SECONDS": "1"}
VENV_BIN = ROOT / ".venv" / "bin"


def wait_for(host: str, port: int, seconds: float, what: str, process: subprocess.Popen) -> None:
    """Waits until something accepts connections on host:port."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited with status {process.returncode}")
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{what} did not listen on {host}:{port} within {seconds:.0f}s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-port", type=int, default=3000)
    parser.add_argument("--moto-port", type=int, default=5000)
    parser.add_argument("--invoke-port", type=int, default=9000)
    parser.add_argument("--stack-name", default="tributary-local")
    parser.add_argument("--state-file", default=str(ROOT / ".local" / "stack.json"))
    parser.add_argument("--no-demo", action="store_true", help="do not seed demo partners and keys")
    parser.add_argument("--no-reload", action="store_true", help="do not rebuild functions when sources change")
    args = parser.parse_args()

    host = "127.0.0.1"
    endpoint = f"http://{host}:{args.moto_port}"
    for port in (args.api_port, args.moto_port, args.invoke_port):
        with socket.socket() as probe:
            # As the servers do: connections of an earlier run in TIME_WAIT do not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise SystemExit(f"port {port} is in use (another local stack?); choose others with "
                                 "--api-port, --moto-port and --invoke-port") from None
    state_file = Path(args.state_file)
    state_file.unlink(missing_ok=True)
    state_file.parent.mkdir(parents=True, exist_ok=True)
    children: list[subprocess.Popen] = []

    def stop(*_):
        for child in reversed(children):
            if child.poll() is None:
                try:
                    os.killpg(child.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
        state_file.unlink(missing_ok=True)

    # Ctrl-C raises KeyboardInterrupt even when started with SIGINT ignored (as background jobs
    # of a script are); SIGTERM and a closed terminal stop the stack the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGHUP, lambda *_: sys.exit(0))
    try:
        return run(args, host, endpoint, state_file, children)
    except KeyboardInterrupt:
        return 0
    finally:
        print("\nstopping the local stack...", flush=True)
        stop()


def run(args, host: str, endpoint: str, state_file: Path, children: list) -> int:
    aws_env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_REGION": template.REGION,
        "AWS_DEFAULT_REGION": template.REGION,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }

    # 1. moto
    moto = subprocess.Popen([str(VENV_BIN / "python"), str(ROOT / "infra/local/serve_moto.py"),
                             "--host", host, "--port", str(args.moto_port)],
                            stdout=subprocess.DEVNULL, start_new_session=True)
    children.append(moto)
    wait_for(host, args.moto_port, 30, "moto", moto)
    print(f"moto          {endpoint}", flush=True)

    # 2. the template's resources
    session = boto3.Session(aws_access_key_id="local", aws_secret_access_key="local", region_name=template.REGION)
    stack = template.create(ROOT / "infra/template.yaml", args.stack_name, endpoint, session)
    for logical_id, name in stack.physical.items():
        print(f"  {logical_id:<22} {name}", flush=True)
    if stack.skipped:
        print(f"  (AWS-only, not created locally: {', '.join(stack.skipped)})", flush=True)

    # 3. the functions, built first so that their first invocation does not wait for a compile
    binaries = sorted({f.binary for f in stack.functions.values()})
    build = ["cargo", "build", "--quiet"] + [a for b in binaries + ["chanctl"] for a in ("--bin", b)]
    print(f"building      {' '.join(binaries)} chanctl", flush=True)
    subprocess.run(build, cwd=ROOT, check=True)
    env_file = state_file.parent / f"{args.stack_name}.env"
    merged: dict[str, str] = {}
    for function in stack.functions.values():
        for name, value in function.environment.items():
            if merged.get(name, value) != value:
                raise SystemExit(f"environment variable {name} differs between functions; "
                                 "cargo lambda watch gives all functions one environment")
            merged[name] = value
    # Local-only settings: outbound webhooks may reach the tests' receivers on loopback (never
    # allowed in the template), and retry after 1 s, 2 s... instead of 30 s, 60 s...
    merged.update(LOCAL_OVERRIDES)
    # The functions' log level; cargo-lambda itself only reports warnings.
    merged.setdefault("RUST_LOG", os.environ.get("RUST_LOG", "info"))
    quoted = {k: '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for k, v in merged.items()}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in sorted(quoted.items())))
    timeout = max([f.timeout for f in stack.functions.values()] + [10]) + 20
    # No --timeout: cargo-lambda applies it to a function's idle wait for work as well, and a
    # function left idle that long is killed and never restarted. The Invoker times out instead.
    watch = [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--invoke-address", host,
             "--invoke-port", str(args.invoke_port), "--env-file", str(env_file)]
    if args.no_reload:
        watch.append("--ignore-changes")
    env = {**os.environ, **aws_env, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}", "RUST_LOG": "warn"}
    watcher = subprocess.Popen(watch, cwd=ROOT, env=env, start_new_session=True)
    children.append(watcher)
    invoke_url = f"http://{host}:{args.invoke_port}"
    wait_for(host, args.invoke_port, 60, "cargo lambda watch", watcher)
    print(f"functions     {invoke_url} (cargo lambda watch)", flush=True)

    # 4. API Gateway, SQS event sources, schedules
    invoker = runtime.Invoker(invoke_url, timeout=timeout + 5)
    scheduler = runtime.Scheduler(stack.functions, invoker)
    gateway = runtime.Gateway(stack.routes, stack.authorizers,
                              {lid: f.binary for lid, f in stack.functions.items()}, invoker, scheduler)
    runtime.serve(gateway, host, args.api_port)
    api_url = f"http://{host}:{args.api_port}"
    print(f"api           {api_url}", flush=True)
    for route in gateway.routes:
        auth = f"authorizer {route.authorizer}" if route.authorizer else "no auth"
        print(f"  {route.method:<6} {route.path:<28} -> {stack.functions[route.function].binary} ({auth})", flush=True)
    sqs = session.client("sqs", endpoint_url=endpoint)
    for function in stack.functions.values():
        for source in function.sqs_sources:
            if source["enabled"]:
                runtime.SqsPoller(sqs, source, function.binary, invoker).start()
                print(f"  sqs    {source['queue_arn'].rsplit(':', 1)[1]} -> {function.binary}", flush=True)
    scheduler.start()

    # 5. demo data
    demo = None
    if not args.no_demo:
        seeded = subprocess.run([str(ROOT / "target/debug/chanctl"), "--json", "seed-demo"], cwd=ROOT,
                                env={**os.environ, **aws_env, "TABLE_NAME": stack.physical["Table"]},
                                check=True, capture_output=True, text=True)
        demo = json.loads(seeded.stdout)

    state = {**stack.to_json(), "api_url": api_url, "invoke_url": invoke_url, "pid": os.getpid(), "demo": demo}
    tmp = state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(state_file)  # written whole, so that a reader never sees half of it

    print(f"\nstate         {state_file}", flush=True)
    print(f"admin tool    AWS_ENDPOINT_URL={endpoint} TABLE_NAME={stack.physical['Table']} "
          f"target/debug/chanctl partner list", flush=True)
    if demo:
        print_demo(demo, api_url)
    print("\nready. Ctrl-C stops everything.", flush=True)
    while watcher.poll() is None and moto.poll() is None:
        time.sleep(0.5)
    raise SystemExit("a local stack process exited unexpectedly")


def print_demo(demo: dict, api_url: str) -> None:
    partner = demo["partners"][0]
    keys = {k["principal"]: k for k in demo["keys"]}
    print("\ndemo API keys (shown once; also in the state file):", flush=True)
    for key in demo["keys"]:
        print(f"  {key['role']:<16} {key['principal']:<32} {key['api_key']}", flush=True)
    print(f"  revoked          {demo['revoked_key']['principal']:<32} {demo['revoked_key']['api_key']}", flush=True)
    partner_key = keys[partner["id"]]["api_key"]
    print("\ntry it:", flush=True)
    print(f"  curl -s -H 'Authorization: Bearer {partner_key}' {api_url}/partners/{partner['id']}", flush=True)
    print(f"\nAPI docs      {api_url}/docs (the OpenAPI document: {api_url}/openapi.json)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
