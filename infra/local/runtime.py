"""What AWS does around the functions, done locally: API Gateway, SQS event sources, schedules.

- Gateway: serves the HttpApi routes, calls the Lambda authorizer like API Gateway (missing identity
  header: 401 without calling it; isAuthorized false: 403; authorizer failure: 500) and passes its
  context to the route's function in a payload 2.0 event.
- SqsPoller: an event source mapping with ReportBatchItemFailures: listed ids stay on the queue and
  are redelivered, the rest are deleted; a failed invocation redelivers the whole batch. The queue's
  redrive policy moves a message to its DLQ after maxReceiveCount receives.
- Scheduler: `rate(...)` schedules run on their period; any schedule can be fired on demand with
  `POST /_local/schedules/<function>/<event>` on the gateway's port.
Functions are invoked through cargo-lambda's invoke endpoint (`cargo lambda watch`).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

from template import ACCOUNT, REGION, Authorizer, Route

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# Locally a failed SQS message becomes visible again after this many seconds instead of the queue's
# full visibility timeout, so that redelivery and the DLQ can be watched in seconds.
LOCAL_RETRY_DELAY_SECONDS = 2


class InvocationError(Exception):
    """The function failed (an error result, a timeout, or no answer)."""


class Invoker:
    """Invokes functions by binary name through cargo-lambda's invoke endpoint."""

    def __init__(self, base_url: str, timeout: float = 60):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def invoke(self, binary: str, event: dict) -> object:
        url = f"{self.base_url}/2015-03-31/functions/{binary}/invocations"
        request = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                         headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                body = response.read()
                function_error = response.headers.get("X-Amz-Function-Error")
        except urllib.error.HTTPError as err:
            raise InvocationError(f"{binary}: HTTP {err.code} {err.read()[:500]!r}") from err
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            raise InvocationError(f"{binary}: {err}") from err
        try:
            payload = json.loads(body) if body else None
        except ValueError as err:
            raise InvocationError(f"{binary}: the result is not JSON: {body[:200]!r}") from err
        if function_error or (isinstance(payload, dict) and "errorType" in payload and "errorMessage" in payload):
            raise InvocationError(f"{binary}: {payload}")
        return payload


# ----------------------------------------------------------------------------- API Gateway


def _route_pattern(path: str) -> re.Pattern:
    parts = []
    for segment in path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}>.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("^/" + "/".join(parts) + "$")


def _specificity(route: Route) -> tuple:
    # API Gateway prefers the most specific match: more literal segments, then fewer greedy ones.
    segments = route.path.strip("/").split("/")
    literal = sum(1 for s in segments if not s.startswith("{"))
    greedy = sum(1 for s in segments if s.endswith("+}"))
    return (-literal, greedy, route.method == "ANY")


class Gateway:
    """The HttpApi: routing, the Lambda authorizer, payload 2.0 events and responses."""

    def __init__(self, routes: list[Route], authorizers: dict[str, Authorizer], binaries: dict[str, str],
                 invoker: Invoker, scheduler: "Scheduler | None" = None):
        self.routes = sorted(routes, key=_specificity)
        self.patterns = [(_route_pattern(r.path), r) for r in self.routes]
        self.authorizers = authorizers
        self.binaries = binaries  # logical id -> binary
        self.invoker = invoker
        self.scheduler = scheduler

    def match(self, method: str, path: str):
        for pattern, route in self.patterns:
            found = pattern.match(path)
            if found and route.method in (method, "ANY"):
                return route, found.groupdict()
        return None, {}

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes,
               source_ip: str = "127.0.0.1") -> tuple[int, list[tuple[str, str]], bytes]:
        request_id = str(uuid.uuid4())
        split = urlsplit(raw_path)
        path = split.path or "/"
        if method == "POST" and path.startswith("/_local/schedules/") and self.scheduler:
            return self._fire_schedule(path)
        route, path_params = self.match(method, path)
        if route is None:
            return _message(404, "Not Found", request_id)
        if len(body) > MAX_BODY_BYTES:
            return _message(413, "Request Entity Too Large", request_id)
        merged: dict[str, str] = {}
        cookies: list[str] = []
        for name, value in headers:
            name = name.lower()
            if name == "cookie":
                cookies.extend(c.strip() for c in value.split(";") if c.strip())
                continue
            merged[name] = f"{merged[name]},{value}" if name in merged else value
        query: dict[str, str] = {}
        for name, value in parse_qsl(split.query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        now = datetime.now(timezone.utc)
        route_key = f"{route.method} {route.path}"
        context = {
            "accountId": ACCOUNT, "apiId": "local", "domainName": merged.get("host", "localhost"),
            "domainPrefix": "local", "requestId": request_id, "routeKey": route_key, "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip,
                     "userAgent": merged.get("user-agent", "")},
        }
        event = {
            "version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": split.query,
            "headers": merged, "requestContext": context,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if path_params:
            event["pathParameters"] = path_params
        if body:
            try:
                event["body"], event["isBase64Encoded"] = body.decode("utf-8"), False
            except UnicodeDecodeError:
                event["body"], event["isBase64Encoded"] = base64.b64encode(body).decode(), True
        else:
            event["isBase64Encoded"] = False

        if route.authorizer:
            denied = self._authorize(self.authorizers[route.authorizer], event, request_id)
            if denied:
                return denied
        try:
            result = self.invoker.invoke(self.binaries[route.function], event)
        except InvocationError as err:
            print(f"[gateway] {route_key}: {err}", flush=True)
            return _message(500, "Internal Server Error", request_id)
        return _response(result, request_id)

    def _authorize(self, authorizer: Authorizer, event: dict, request_id: str):
        identity = [event["headers"].get(h, "") for h in authorizer.identity_headers]
        if not all(identity):
            return _message(401, "Unauthorized", request_id)
        auth_event = {
            "version": "2.0", "type": "REQUEST",
            "routeArn": f"arn:aws:execute-api:{REGION}:{ACCOUNT}:local/$default/"
                        f"{event['requestContext']['http']['method']}{event['rawPath']}",
            "identitySource": identity, "routeKey": event["routeKey"], "rawPath": event["rawPath"],
            "rawQueryString": event["rawQueryString"], "cookies": event.get("cookies", []),
            "headers": event["headers"], "queryStringParameters": event.get("queryStringParameters", {}),
            "requestContext": event["requestContext"], "pathParameters": event.get("pathParameters", {}),
            "stageVariables": {},
        }
        try:
            decision = self.invoker.invoke(self.binaries[authorizer.function], auth_event)
        except InvocationError as err:
            print(f"[gateway] authorizer {authorizer.name}: {err}", flush=True)
            return _message(500, "Internal Server Error", request_id)
        if not isinstance(decision, dict) or not isinstance(decision.get("isAuthorized"), bool):
            print(f"[gateway] authorizer {authorizer.name} answered {decision!r}", flush=True)
            return _message(500, "Internal Server Error", request_id)
        if not decision["isAuthorized"]:
            return _message(403, "Forbidden", request_id)
        event["requestContext"]["authorizer"] = {"lambda": decision.get("context") or {}}
        return None

    def _fire_schedule(self, path: str):
        parts = path.split("/")
        if len(parts) != 5:
            return _message(404, "expected /_local/schedules/<function>/<event>", "local")
        try:
            result = self.scheduler.fire(parts[3], parts[4])
        except KeyError:
            return _message(404, f"no schedule {parts[4]} on {parts[3]}", "local")
        except InvocationError as err:
            return _message(500, str(err), "local")
        return 200, [("content-type", "application/json")], json.dumps({"result": result}).encode()


def _message(status: int, message: str, request_id: str):
    body = json.dumps({"message": message}).encode()
    return status, [("content-type", "application/json"), ("apigw-requestid", request_id)], body


def _response(result: object, request_id: str):
    """Payload 2.0 response rules: a dict with statusCode is a response, anything else is a 200 body."""
    if not (isinstance(result, dict) and "statusCode" in result):
        body = json.dumps(result).encode()
        return 200, [("content-type", "application/json"), ("apigw-requestid", request_id)], body
    headers = [(k, str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((name, str(v)) for v in values)
    headers.extend(("set-cookie", c) for c in result.get("cookies") or [])
    headers.append(("apigw-requestid", request_id))
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    return int(result["statusCode"]), headers, data


def serve(gateway: Gateway, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _any(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            status, headers, data = gateway.handle(self.command, self.path, list(self.headers.items()),
                                                   body, self.client_address[0])
            self.send_response(status)
            for name, value in headers:
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    self.send_header(name, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

        def __getattr__(self, name):
            # Any other method (TRACE, CONNECT, made-up ones) goes to the gateway too, which
            # answers 404 as API Gateway does for a method no route has (http.server: 501).
            if name.startswith("do_"):
                return self._any
            raise AttributeError(name)

        def log_message(self, fmt, *args):
            print(f"[gateway] {self.address_string()} {fmt % args}", flush=True)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        # Bursts of simultaneous clients (the default backlog of 5 resets the rest).
        request_queue_size = 256

    server = Server((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="gateway").start()
    return server


# ----------------------------------------------------------------------------- SQS event sources


class SqsPoller:
    """One SQS event source mapping: receive a batch, invoke, delete what succeeded."""

    def __init__(self, sqs, source: dict, binary: str, invoker: Invoker,
                 retry_delay: int = LOCAL_RETRY_DELAY_SECONDS):
        self.sqs = sqs
        self.source = source
        self.binary = binary
        self.invoker = invoker
        self.retry_delay = retry_delay
        self.stopped = threading.Event()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self._run, daemon=True, name=f"sqs-{self.binary}")
        thread.start()
        return thread

    def _run(self):
        while not self.stopped.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception as err:  # keep polling; a local hiccup must not stop delivery
                print(f"[sqs] {self.binary}: {err}", flush=True)
                time.sleep(1)

    def poll_once(self, wait_seconds: int = 0) -> int:
        """Delivers one batch; returns how many messages were received."""
        received = self.sqs.receive_message(
            QueueUrl=self.source["queue_url"], MaxNumberOfMessages=min(self.source["batch_size"], 10),
            WaitTimeSeconds=wait_seconds, AttributeNames=["All"], MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        records = [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}),
            "messageAttributes": {k: _message_attribute(v) for k, v in m.get("MessageAttributes", {}).items()},
            "md5OfBody": m.get("MD5OfBody"), "eventSource": "aws:sqs",
            "eventSourceARN": self.source["queue_arn"], "awsRegion": REGION,
        } for m in received]
        handles = {m["MessageId"]: m["ReceiptHandle"] for m in received}
        try:
            result = self.invoker.invoke(self.binary, {"Records": records})
        except InvocationError as err:
            print(f"[sqs] {self.binary}: batch of {len(records)} failed, all will be redelivered: {err}", flush=True)
            self._retry_later(list(handles.values()))
            return len(received)
        failed: set[str] = set()
        if self.source["report_failures"] and isinstance(result, dict):
            failures = result.get("batchItemFailures") or []
            failed = {f.get("itemIdentifier") for f in failures}
            if failed - set(handles):
                # Lambda treats an unknown or empty id as a failure of the whole batch.
                print(f"[sqs] {self.binary}: unknown ids in batchItemFailures, whole batch retried", flush=True)
                self._retry_later(list(handles.values()))
                return len(received)
        done = [h for mid, h in handles.items() if mid not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(QueueUrl=self.source["queue_url"], Entries=[
                {"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(done[start:start + 10])])
        self._retry_later([handles[mid] for mid in failed])
        return len(received)

    def _retry_later(self, receipt_handles: list[str]):
        for handle in receipt_handles:
            self.sqs.change_message_visibility(QueueUrl=self.source["queue_url"], ReceiptHandle=handle,
                                               VisibilityTimeout=self.retry_delay)


def _message_attribute(value: dict) -> dict:
    """An SQS message attribute as Lambda shows it (binary values base64-encoded)."""
    binary = value.get("BinaryValue")
    return {"stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "dataType": value["DataType"], "stringListValues": [], "binaryListValues": []}


# ----------------------------------------------------------------------------- schedules

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def rate_seconds(expression: str) -> int | None:
    found = _RATE.match(expression.strip())
    if not found:
        return None
    return int(found.group(1)) * _UNIT_SECONDS[found.group(2).rstrip("s")]


class Scheduler:
    """Runs rate() schedules on their period (cron() ones on demand only) as EventBridge would."""

    def __init__(self, functions: dict, invoker: Invoker):
        self.invoker = invoker
        self.schedules = {}  # (binary, event) -> (expression, input)
        for function in functions.values():
            for schedule in function.schedules:
                if schedule["enabled"]:
                    self.schedules[(function.binary, schedule["event"])] = schedule
        self.stopped = threading.Event()

    def event_for(self, binary: str, name: str) -> dict:
        schedule = self.schedules[(binary, name)]
        if schedule.get("input") is not None:
            given = schedule["input"]
            return json.loads(given) if isinstance(given, str) else given
        return {
            "version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION, "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{binary}-{name}"],
            "detail": {},
        }

    def fire(self, binary: str, name: str) -> object:
        return self.invoker.invoke(binary, self.event_for(binary, name))

    def start(self):
        for (binary, name), schedule in self.schedules.items():
            period = rate_seconds(schedule["expression"])
            if period is None:
                print(f"[schedule] {binary}/{name} ({schedule['expression']}): on demand only, "
                      f"POST /_local/schedules/{binary}/{name}", flush=True)
                continue
            threading.Thread(target=self._loop, args=(binary, name, period), daemon=True).start()

    def _loop(self, binary: str, name: str, period: int):
        while not self.stopped.wait(period):
            try:
                self.fire(binary, name)
            except InvocationError as err:
                print(f"[schedule] {binary}/{name}: {err}", flush=True)
