"""Runs moto's server on loopback and prints its URL on the first line of stdout.

DynamoDB requests are served one at a time: moto checks a transaction's conditions and applies
its writes without a lock, so two concurrent conditional writes could both pass, which DynamoDB
never allows. Serialising them gives tests of concurrent decisions DynamoDB's guarantees. Other
services (SQS long polls among them) stay concurrent.

Used by the Rust test harness (port 0: any free port) and by the local stack. With
--parent-pid it exits when that process is gone, so a test run that is killed leaves
no server behind.
"""

import argparse
import logging
import os
import sys
import time

import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server


def parent_alive(pid: int) -> bool:
    if os.getppid() != pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, default=None)
    args = parser.parse_args()

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    moto_app = DomainDispatcherApplication(create_backend_app)
    dynamodb = threading.Lock()

    def app(environ, start_response):
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            with dynamodb:
                return list(moto_app(environ, start_response))
        return moto_app(environ, start_response)

    try:
        server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    except OSError as err:
        sys.exit(f"cannot listen on {args.host}:{args.port}: {err}")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    print(f"http://{host}:{port}", flush=True)
    try:
        while args.parent_pid is None or parent_alive(args.parent_pid):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
