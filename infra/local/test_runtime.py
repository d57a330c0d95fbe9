"""Tests of the local stack: the template reader against a real moto server, and the API Gateway,
SQS event source and schedule emulation with a scripted function in place of cargo-lambda.

Run with `make test-local-stack` (or `cd infra/local && ../../.venv/bin/python -m unittest -v`).
"""

from __future__ import annotations

import json
import logging
import time
import unittest
from pathlib import Path

import boto3
from moto.server import ThreadedMotoServer

import runtime
import template
from template import Authorizer, Route

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


class MotoTestCase(unittest.TestCase):
    """One moto server for the class; each test uses its own stack name, so nothing is shared."""

    @classmethod
    def setUpClass(cls):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        cls.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        cls.server.start()
        host, port = cls.server.get_host_and_port()
        cls.endpoint = f"http://{host}:{port}"
        cls.session = boto3.Session(aws_access_key_id="t", aws_secret_access_key="t", region_name=template.REGION)

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def client(self, service: str):
        return self.session.client(service, endpoint_url=self.endpoint)


class ScriptedInvoker:
    """Stands in for cargo-lambda: records invocations and answers with a function of the event."""

    def __init__(self, functions: dict):
        self.functions = functions
        self.calls: list[tuple[str, dict]] = []

    def invoke(self, binary: str, event: dict):
        self.calls.append((binary, event))
        return self.functions[binary](event)


class TemplateTest(MotoTestCase):
    def test_creates_the_templates_resources_in_moto(self):
        stack = template.create(TEMPLATE, "t-create", self.endpoint, self.session)
        table = self.client("dynamodb").describe_table(TableName=stack.physical["Table"])["Table"]
        self.assertEqual([k["AttributeName"] for k in table["KeySchema"]], ["pk", "sk"])
        self.assertEqual([i["IndexName"] for i in table["GlobalSecondaryIndexes"]], ["gsi1", "gsi2"])
        ttl = self.client("dynamodb").describe_time_to_live(TableName=stack.physical["Table"])
        self.assertEqual(ttl["TimeToLiveDescription"]["AttributeName"], "expires_at")
        attributes = self.client("sqs").get_queue_attributes(
            QueueUrl=stack.physical["IngestQueue"], AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes["RedrivePolicy"])
        self.assertTrue(redrive["deadLetterTargetArn"].endswith("t-create-IngestDLQ"))
        self.assertEqual(int(redrive["maxReceiveCount"]), 3)
        self.assertEqual(stack.functions["AuthorizerFunction"].binary, "authorizer")
        review = stack.functions["DealApproveFunction"]
        self.assertEqual(review.sqs_sources[0]["queue_url"], stack.physical["DealReviewQueue"])
        self.assertTrue(review.sqs_sources[0]["report_failures"])
        self.assertEqual(review.schedules[0]["expression"], "rate(1 hour)")
        self.assertEqual(stack.functions["OnboardingFunction"].environment["TABLE_NAME"], "t-create-Table")
        self.assertIn("IngestDLQAlarm (AWS::CloudWatch::Alarm)", stack.skipped)

    def test_a_file_dropped_in_the_bucket_is_announced_on_the_ingest_queue(self):
        stack = template.create(TEMPLATE, "t-notify", self.endpoint, self.session)
        sqs = self.client("sqs")
        self.client("s3").put_object(Bucket=stack.physical["DropBucket"], Key="ptn_x/pos/week 47.csv", Body=b"a,b\n")
        bodies = []
        for _ in range(3):
            messages = sqs.receive_message(QueueUrl=stack.physical["IngestQueue"], MaxNumberOfMessages=10,
                                           WaitTimeSeconds=1).get("Messages", [])
            bodies += [json.loads(m["Body"]) for m in messages]
        records = [r for b in bodies for r in b.get("Records", [])]
        self.assertEqual(len(records), 1, bodies)
        self.assertTrue(records[0]["eventName"].startswith("ObjectCreated"))
        self.assertEqual(records[0]["s3"]["bucket"]["name"], stack.physical["DropBucket"])

    def test_resolves_intrinsics(self):
        resolver = template.Resolver(template.load(TEMPLATE), "t-sub", "http://moto")
        self.assertEqual(resolver.resolve({"Fn::Sub": "${AWS::StackName}-x-${AWS::Region}"}), "t-sub-x-us-east-1")
        self.assertEqual(resolver.resolve({"Fn::GetAtt": ["IngestQueue", "Arn"]}),
                         "arn:aws:sqs:us-east-1:123456789012:t-sub-IngestQueue")
        self.assertEqual(resolver.resolve({"Ref": "IngestQueue"}), "http://moto/123456789012/t-sub-IngestQueue")
        self.assertEqual(resolver.resolve({"Fn::If": ["HasAlarmEmail", "yes", "no"]}), "no")
        self.assertEqual(resolver.resolve([{"Ref": "AWS::NoValue"}, 1]), [1])


class GatewayTest(unittest.TestCase):
    def setUp(self):
        self.decisions = {}

        def authorizer(event):
            header = event["headers"].get("authorization", "")
            if header == "Bearer broken":
                raise runtime.InvocationError("authorizer crashed")
            if header == "Bearer good":
                return {"isAuthorized": True, "context": {"principalId": "p1", "role": "partner"}}
            return {"isAuthorized": False}

        def echo(event):
            return {"statusCode": 201, "headers": {"content-type": "application/json", "x-echo": "1"},
                    "body": json.dumps({"path": event.get("pathParameters"), "query": event.get("queryStringParameters"),
                                        "authorizer": event["requestContext"].get("authorizer"),
                                        "route": event["routeKey"], "body": event.get("body"),
                                        "b64": event["isBase64Encoded"]}),
                    "cookies": ["a=1"]}

        self.invoker = ScriptedInvoker({"auth": authorizer, "fn": echo, "open": lambda e: {"hello": "world"}})
        routes = [Route("GET", "/partners/{id}", "Fn", "Keys"), Route("POST", "/partners/{id}/notes", "Fn", "Keys"),
                  Route("GET", "/partners/me", "Fn", "Keys"), Route("GET", "/health", "Open", None)]
        self.gateway = runtime.Gateway(routes, {"Keys": Authorizer("Keys", "Auth", ["authorization"], True)},
                                       {"Fn": "fn", "Auth": "auth", "Open": "open"}, self.invoker)

    def call(self, method, path, auth=None, body=b""):
        headers = [("Host", "localhost")] + ([("Authorization", auth)] if auth else [])
        status, headers, data = self.gateway.handle(method, path, headers, body)
        return status, dict(headers), data

    def test_missing_key_is_401_without_calling_the_authorizer(self):
        status, _, data = self.call("GET", "/partners/p1")
        self.assertEqual(status, 401)
        self.assertEqual(json.loads(data), {"message": "Unauthorized"})
        self.assertEqual(self.invoker.calls, [])

    def test_denied_key_is_403_and_the_function_is_not_called(self):
        status, _, data = self.call("GET", "/partners/p1", auth="Bearer revoked")
        self.assertEqual(status, 403)
        self.assertEqual([b for b, _ in self.invoker.calls], ["auth"])

    def test_authorizer_failure_is_500(self):
        status, _, _ = self.call("GET", "/partners/p1", auth="Bearer broken")
        self.assertEqual(status, 500)

    def test_granted_request_carries_context_params_and_body(self):
        status, headers, data = self.call("POST", "/partners/p7/notes?tag=a&tag=b&x=", auth="Bearer good",
                                          body=b'{"n":1}')
        self.assertEqual(status, 201)
        self.assertEqual(headers["x-echo"], "1")
        self.assertEqual(headers["set-cookie"], "a=1")
        seen = json.loads(data)
        self.assertEqual(seen["path"], {"id": "p7"})
        self.assertEqual(seen["query"], {"tag": "a,b", "x": ""})
        self.assertEqual(seen["authorizer"], {"lambda": {"principalId": "p1", "role": "partner"}})
        self.assertEqual(seen["route"], "POST /partners/{id}/notes")
        self.assertEqual((seen["body"], seen["b64"]), ('{"n":1}', False))

    def test_binary_body_is_base64(self):
        _, _, data = self.call("POST", "/partners/p7/notes", auth="Bearer good", body=b"\xff\xfe")
        self.assertTrue(json.loads(data)["b64"])

    def test_literal_route_wins_over_parameter(self):
        _, _, data = self.call("GET", "/partners/me", auth="Bearer good")
        self.assertEqual(json.loads(data)["route"], "GET /partners/me")

    def test_unknown_route_and_wrong_method_are_404(self):
        self.assertEqual(self.call("GET", "/nothing")[0], 404)
        self.assertEqual(self.call("DELETE", "/partners/p1", auth="Bearer good")[0], 404)

    def test_any_method_reaches_the_gateway_over_http(self):
        server = runtime.serve(self.gateway, "127.0.0.1", 0)
        try:
            import http.client
            for method in ("TRACE", "CONNECT", "BREW", "GET"):
                connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=5)
                connection.request(method, "/health" if method == "GET" else "/partners/p1")
                response = connection.getresponse()
                expected = (200, {"hello": "world"}) if method == "GET" else (404, {"message": "Not Found"})
                self.assertEqual((response.status, json.loads(response.read())), expected, method)
                connection.close()
        finally:
            server.shutdown()

    def test_route_without_auth_and_non_response_result_is_200_json(self):
        status, _, data = self.call("GET", "/health")
        self.assertEqual((status, json.loads(data)), (200, {"hello": "world"}))


class SqsPollerTest(MotoTestCase):
    def queue_with_dlq(self, name: str, max_receives: int):
        sqs = self.client("sqs")
        dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receives)})})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return sqs, url, arn, dlq

    def poller(self, sqs, url, arn, behaviour, report_failures=True):
        invoker = ScriptedInvoker({"consumer": behaviour})
        source = {"queue_url": url, "queue_arn": arn, "batch_size": 10, "report_failures": report_failures}
        return runtime.SqsPoller(sqs, source, "consumer", invoker, retry_delay=0), invoker

    def drain_count(self, sqs, url):
        return len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))

    def test_only_reported_failures_are_redelivered_then_dead_lettered(self):
        sqs, url, arn, dlq = self.queue_with_dlq("partial", max_receives=2)
        for body in ["ok-1", "bad", "ok-2"]:
            sqs.send_message(QueueUrl=url, MessageBody=body)

        def consumer(event):
            self.assertTrue(all(r["eventSource"] == "aws:sqs" and r["eventSourceARN"] == arn for r in event["Records"]))
            return {"batchItemFailures": [{"itemIdentifier": r["messageId"]}
                                          for r in event["Records"] if r["body"] == "bad"]}

        poller, invoker = self.poller(sqs, url, arn, consumer)
        self.assertEqual(poller.poll_once(), 3)
        time.sleep(0.1)
        self.assertEqual(poller.poll_once(), 1, "only the failed message comes back")
        self.assertEqual(invoker.calls[1][1]["Records"][0]["body"], "bad")
        time.sleep(0.1)
        self.assertEqual(poller.poll_once(), 0, "after maxReceiveCount it is moved, not delivered")
        dead = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10).get("Messages", [])
        self.assertEqual([m["Body"] for m in dead], ["bad"])

    def test_a_failed_invocation_redelivers_the_whole_batch(self):
        sqs, url, arn, _ = self.queue_with_dlq("crash", max_receives=5)
        sqs.send_message(QueueUrl=url, MessageBody="a")
        sqs.send_message(QueueUrl=url, MessageBody="b")

        def crash(event):
            raise runtime.InvocationError("boom")

        poller, _ = self.poller(sqs, url, arn, crash)
        self.assertEqual(poller.poll_once(), 2)
        time.sleep(0.1)
        self.assertEqual(self.drain_count(sqs, url), 2)

    def test_a_successful_batch_is_deleted(self):
        sqs, url, arn, _ = self.queue_with_dlq("fine", max_receives=5)
        sqs.send_message(QueueUrl=url, MessageBody="a")
        poller, _ = self.poller(sqs, url, arn, lambda e: {"batchItemFailures": []})
        self.assertEqual(poller.poll_once(), 1)
        time.sleep(0.1)
        self.assertEqual(self.drain_count(sqs, url), 0)

    def test_message_attributes_reach_the_function_as_lambda_shows_them(self):
        sqs, url, arn, _ = self.queue_with_dlq("attributes", max_receives=5)
        sqs.send_message(QueueUrl=url, MessageBody="a", MessageAttributes={
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
            "kind": {"DataType": "String", "StringValue": "pos"}})
        poller, invoker = self.poller(sqs, url, arn, lambda e: {"batchItemFailures": []})
        self.assertEqual(poller.poll_once(), 1)
        attributes = invoker.calls[0][1]["Records"][0]["messageAttributes"]
        self.assertEqual(attributes["blob"]["binaryValue"], "AAE=")
        self.assertEqual(attributes["kind"]["stringValue"], "pos")
        json.dumps(invoker.calls[0][1])  # what cargo-lambda is sent must be JSON

    def test_unknown_failure_ids_fail_the_whole_batch(self):
        sqs, url, arn, _ = self.queue_with_dlq("unknown-ids", max_receives=5)
        sqs.send_message(QueueUrl=url, MessageBody="a")
        sqs.send_message(QueueUrl=url, MessageBody="b")
        poller, _ = self.poller(sqs, url, arn, lambda e: {"batchItemFailures": [{"itemIdentifier": ""}]})
        poller.poll_once()
        time.sleep(0.1)
        self.assertEqual(self.drain_count(sqs, url), 2)


class SchedulerTest(unittest.TestCase):
    def test_rate_expressions(self):
        self.assertEqual(runtime.rate_seconds("rate(5 minutes)"), 300)
        self.assertEqual(runtime.rate_seconds("rate(1 hour)"), 3600)
        self.assertIsNone(runtime.rate_seconds("cron(0 8 * * ? *)"))

    def test_fires_a_scheduled_event_on_demand_through_the_gateway(self):
        function = template.Function("Sweep", "sweeper", {}, 10, schedules=[
            {"event": "Daily", "expression": "cron(0 8 * * ? *)", "input": None, "enabled": True}])
        invoker = ScriptedInvoker({"sweeper": lambda e: {"swept": e["detail-type"]}})
        scheduler = runtime.Scheduler({"Sweep": function}, invoker)
        gateway = runtime.Gateway([], {}, {}, invoker, scheduler)
        status, _, data = gateway.handle("POST", "/_local/schedules/sweeper/Daily", [], b"")
        self.assertEqual((status, json.loads(data)), (200, {"result": {"swept": "Scheduled Event"}}))
        self.assertEqual(invoker.calls[0][1]["source"], "aws.events")
        self.assertEqual(gateway.handle("POST", "/_local/schedules/sweeper/Nope", [], b"")[0], 404)


if __name__ == "__main__":
    unittest.main()
