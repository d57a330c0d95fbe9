"""Runs moto's server on loopback and prints its URL on the first line of stdout.

Used by the Rust test harness (port 0: any free port) and by the local stack. With
--parent-pid it exits when that process is gone, so a test run that is killed leaves
no server behind.
"""

import argparse
import logging
import os
import socket
import sys
import time

from moto.server import ThreadedMotoServer


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
    if args.port:
        # moto reports a busy port and carries on; another server would then answer in its place.
        with socket.socket() as probe:
            try:
                probe.bind((args.host, args.port))
            except OSError as err:
                sys.exit(f"cannot listen on {args.host}:{args.port}: {err}")
    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    try:
        while args.parent_pid is None or parent_alive(args.parent_pid):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
