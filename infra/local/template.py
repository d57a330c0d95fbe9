"""Reads infra/template.yaml and creates its resources in moto, so local and deployed cannot drift.

What it understands:
- CloudFormation short tags (!Ref, !GetAtt, !Sub, !If, ...) and the intrinsics they stand for;
- AWS::DynamoDB::Table, AWS::SQS::Queue (with redrive), AWS::S3::Bucket (with queue notifications),
  AWS::SNS::Topic: created in moto;
- AWS::Serverless::Function and AWS::Serverless::HttpApi: described for the local runtime
  (binary, environment, HTTP routes, SQS event sources, schedules);
- everything else (alarms, log groups, IAM): AWS-only, listed as skipped.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT = "123456789012"
REGION = "us-east-1"
NO_VALUE = object()

# ----------------------------------------------------------------------------- parsing


class _Loader(yaml.SafeLoader):
    """A YAML loader that turns CloudFormation short tags into their long form."""


def _tag(name: str):
    key = "Ref" if name == "Ref" else f"Fn::{name}"

    def construct(loader: yaml.Loader, node: yaml.Node):
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {key: value}

    return construct


for _name in ["Ref", "GetAtt", "Sub", "Join", "If", "Not", "Equals", "And", "Or", "Select",
              "Split", "FindInMap", "Base64", "GetAZs", "ImportValue", "Condition", "Cidr"]:
    _Loader.add_constructor(f"!{_name}", _tag(_name))


def load(path: Path) -> dict:
    with open(path, encoding="utf-8") as f:
        return yaml.load(f, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


# ----------------------------------------------------------------------------- model


@dataclass
class Route:
    method: str  # GET, POST, ... or ANY
    path: str  # /partners/{id}
    function: str  # logical id
    authorizer: str | None  # authorizer name, None for Auth NONE


@dataclass
class Function:
    logical_id: str
    binary: str
    environment: dict[str, str]
    timeout: int
    sqs_sources: list[dict] = field(default_factory=list)  # {queue_url, queue_arn, batch_size, report_failures}
    schedules: list[dict] = field(default_factory=list)  # {name, expression, input}


@dataclass
class Authorizer:
    name: str
    function: str  # logical id
    identity_headers: list[str]
    simple_responses: bool


@dataclass
class Stack:
    name: str
    endpoint: str
    physical: dict[str, str]  # logical id -> physical name / URL
    functions: dict[str, Function]
    routes: list[Route]
    authorizers: dict[str, Authorizer]
    skipped: list[str]
    outputs: dict[str, str]

    def to_json(self) -> dict:
        return {
            "stack": self.name,
            "aws_endpoint": self.endpoint,
            "resources": self.physical,
            "outputs": self.outputs,
            "functions": {k: {"binary": f.binary, "environment": f.environment}
                          for k, f in self.functions.items()},
            "routes": [f"{r.method} {r.path}" for r in self.routes],
        }


# ----------------------------------------------------------------------------- intrinsics


class Resolver:
    """Evaluates intrinsic functions against the local physical resources."""

    def __init__(self, template: dict, stack_name: str, endpoint: str):
        self.template = template
        self.resources = template.get("Resources", {})
        self.stack_name = stack_name
        self.endpoint = endpoint
        self.params = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NoValue": NO_VALUE,
        }
        self.names: dict[str, str] = {}

    def name_of(self, logical_id: str) -> str:
        """The local physical name: the template's explicit name, or <stack>-<logical id>."""
        if logical_id in self.names:
            return self.names[logical_id]
        resource = self.resources[logical_id]
        props = resource.get("Properties", {})
        kind = resource["Type"]
        explicit = {"AWS::SQS::Queue": "QueueName", "AWS::S3::Bucket": "BucketName",
                    "AWS::DynamoDB::Table": "TableName", "AWS::SNS::Topic": "TopicName"}.get(kind)
        name = self.resolve(props[explicit]) if explicit and explicit in props else None
        if name is None:
            name = f"{self.stack_name}-{logical_id}"
            if kind == "AWS::S3::Bucket":
                name = name.lower()
            if kind == "AWS::SQS::Queue" and str(props.get("FifoQueue", "")).lower() == "true":
                name += ".fifo"
            if kind == "AWS::Serverless::Function":
                name = resource.get("Metadata", {}).get("BuildProperties", {}).get("Binary", logical_id)
        self.names[logical_id] = name
        return name

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        kind = self.resources[name]["Type"]
        if kind == "AWS::Serverless::HttpApi":
            raise ValueError(f"{name}: the API's id exists only in AWS (the local gateway has its own URL)")
        physical = self.name_of(name)
        if kind == "AWS::SQS::Queue":
            return f"{self.endpoint}/{ACCOUNT}/{physical}"
        if kind == "AWS::SNS::Topic":
            return f"arn:aws:sns:{REGION}:{ACCOUNT}:{physical}"
        return physical

    def get_att(self, logical_id: str, attribute: str) -> str:
        kind = self.resources[logical_id]["Type"]
        physical = self.name_of(logical_id)
        arns = {
            "AWS::DynamoDB::Table": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{physical}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{physical}",
            "AWS::S3::Bucket": f"arn:aws:s3:::{physical}",
            "AWS::Serverless::Function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{physical}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{physical}:*",
            "AWS::SNS::Topic": f"arn:aws:sns:{REGION}:{ACCOUNT}:{physical}",
        }
        if attribute == "Arn" and kind in arns:
            return arns[kind]
        if kind == "AWS::SQS::Queue" and attribute == "QueueName":
            return physical
        if kind == "AWS::SQS::Queue" and attribute == "QueueUrl":
            return self.ref(logical_id)
        raise ValueError(f"the local stack cannot resolve !GetAtt {logical_id}.{attribute}")

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.template.get("Conditions", {})[name]))

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                parts = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(parts[0], parts[1])
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::If":
                return self.resolve(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return str(self.resolve(arg[0])) == str(self.resolve(arg[1]))
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(v) for v in arg)
            if key == "Fn::Or":
                return any(self.resolve(v) for v in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        return re.sub(r"\$\{([^}!]+)\}", replace, text)


# ----------------------------------------------------------------------------- creation


def _merge_globals(template: dict, props: dict) -> dict:
    merged = dict(template.get("Globals", {}).get("Function", {}))
    for key, value in props.items():
        if key == "Environment":
            variables = dict(merged.get("Environment", {}).get("Variables", {}))
            variables.update(value.get("Variables", {}))
            merged["Environment"] = {"Variables": variables}
        else:
            merged[key] = value
    return merged


def create(template_path: Path, stack_name: str, endpoint: str, session) -> Stack:
    """Creates the template's data resources in moto and describes the rest for the runtime."""
    template = load(template_path)
    resolver = Resolver(template, stack_name, endpoint)
    resources = template.get("Resources", {})
    clients = {s: session.client(s, endpoint_url=endpoint, region_name=REGION)
               for s in ("dynamodb", "sqs", "s3", "sns")}
    physical: dict[str, str] = {}
    skipped: list[str] = []

    def of_type(kind: str):
        return [(lid, r) for lid, r in resources.items() if r["Type"] == kind]

    for logical_id, resource in of_type("AWS::DynamoDB::Table"):
        physical[logical_id] = _create_table(clients["dynamodb"], resolver.name_of(logical_id),
                                             resolver.resolve(resource.get("Properties", {})))

    # Queues first without redrive (a DLQ must exist before a policy names it), then the redrive.
    queues = of_type("AWS::SQS::Queue")
    for logical_id, resource in queues:
        props = resolver.resolve(resource.get("Properties", {}))
        attributes = {k: _attr(v) for k, v in props.items()
                      if k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds",
                               "MaximumMessageSize", "ReceiveMessageWaitTimeSeconds", "FifoQueue",
                               "ContentBasedDeduplication")}
        clients["sqs"].create_queue(QueueName=resolver.name_of(logical_id), Attributes=attributes)
        physical[logical_id] = resolver.ref(logical_id)
    for logical_id, resource in queues:
        redrive = resolver.resolve(resource.get("Properties", {})).get("RedrivePolicy")
        if redrive:
            clients["sqs"].set_queue_attributes(QueueUrl=resolver.ref(logical_id),
                                                Attributes={"RedrivePolicy": json.dumps(redrive)})

    for logical_id, _ in of_type("AWS::SNS::Topic"):
        physical[logical_id] = clients["sns"].create_topic(Name=resolver.name_of(logical_id))["TopicArn"]

    for logical_id, resource in of_type("AWS::S3::Bucket"):
        physical[logical_id] = _create_bucket(clients["s3"], resolver.name_of(logical_id),
                                              resolver.resolve(resource.get("Properties", {})))

    functions = {}
    for logical_id, resource in of_type("AWS::Serverless::Function"):
        functions[logical_id] = describe_function(template, resolver, logical_id, resource)
        physical[logical_id] = functions[logical_id].binary

    routes, authorizers = _http_api(template, resolver, resources)
    handled = {"AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::S3::Bucket",
               "AWS::Serverless::Function", "AWS::Serverless::HttpApi"}
    skipped = [f"{lid} ({r['Type']})" for lid, r in resources.items() if r["Type"] not in handled]
    outputs = {}
    for name, output in template.get("Outputs", {}).items():
        try:
            outputs[name] = str(resolver.resolve(output["Value"]))
        except (ValueError, KeyError):
            continue  # AWS-only values (the API's execute-api URL)
    return Stack(stack_name, endpoint, physical, functions, routes, authorizers, skipped, outputs)


def _attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _create_table(client, name: str, props: dict) -> str:
    request = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        request["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
    if props.get("SSESpecification"):
        request["SSESpecification"] = {"Enabled": bool(props["SSESpecification"].get("SSEEnabled"))}
    client.create_table(**request)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        client.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": True})
    pitr = props.get("PointInTimeRecoverySpecification", {})
    if pitr.get("PointInTimeRecoveryEnabled"):
        client.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={
            "PointInTimeRecoveryEnabled": True})
    return name


def _create_bucket(client, name: str, props: dict) -> str:
    client.create_bucket(Bucket=name)
    if props.get("VersioningConfiguration"):
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={
            "Status": props["VersioningConfiguration"]["Status"]})
    notifications = props.get("NotificationConfiguration", {})
    queue_configs = []
    for config in notifications.get("QueueConfigurations", []):
        entry = {"QueueArn": config["Queue"], "Events": [config["Event"]]}
        rules = config.get("Filter", {}).get("S3Key", {}).get("Rules", [])
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": rules}}
        queue_configs.append(entry)
    if queue_configs:
        client.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"QueueConfigurations": queue_configs})
    return name


def describe_function(template: dict, resolver: Resolver, logical_id: str, resource: dict) -> Function:
    """A function of the template: binary, resolved environment, event sources, schedules."""
    props = _merge_globals(template, resource.get("Properties", {}))
    env = resolver.resolve(props.get("Environment", {}).get("Variables", {}))
    function = Function(logical_id=logical_id, binary=resolver.name_of(logical_id),
                        environment={k: str(v) for k, v in env.items()},
                        timeout=int(props.get("Timeout", 3)))
    for event_name, event in props.get("Events", {}).items():
        event_props = event.get("Properties", {})
        if event["Type"] == "SQS":
            queue_arn = resolver.resolve(event_props["Queue"])
            queue_name = queue_arn.rsplit(":", 1)[1]
            function.sqs_sources.append({
                "event": event_name,
                "queue_arn": queue_arn,
                "queue_url": f"{resolver.endpoint}/{ACCOUNT}/{queue_name}",
                "batch_size": int(event_props.get("BatchSize", 10)),
                "report_failures": "ReportBatchItemFailures" in event_props.get("FunctionResponseTypes", []),
                "enabled": event_props.get("Enabled", True),
            })
        elif event["Type"] in ("Schedule", "ScheduleV2"):
            expression = event_props.get("Schedule") or event_props.get("ScheduleExpression")
            function.schedules.append({
                "event": event_name,
                "expression": resolver.resolve(expression),
                "input": resolver.resolve(event_props.get("Input")),
                "enabled": event_props.get("Enabled", True) and event_props.get("State", "ENABLED") != "DISABLED",
            })
    return function


def _http_api(template: dict, resolver: Resolver, resources: dict):
    apis = {lid: r for lid, r in resources.items() if r["Type"] == "AWS::Serverless::HttpApi"}
    authorizers: dict[str, Authorizer] = {}
    default_authorizer: dict[str, str | None] = {}
    for api_id, api in apis.items():
        auth = api.get("Properties", {}).get("Auth", {})
        default_authorizer[api_id] = auth.get("DefaultAuthorizer")
        for name, spec in auth.get("Authorizers", {}).items():
            function_arn = spec["FunctionArn"]
            target = function_arn.get("Fn::GetAtt") if isinstance(function_arn, dict) else None
            if not target:
                raise ValueError(f"authorizer {name}: FunctionArn must be !GetAtt <Function>.Arn locally")
            authorizers[name] = Authorizer(
                name=name, function=target[0],
                identity_headers=[h.lower() for h in spec.get("Identity", {}).get("Headers", [])],
                simple_responses=bool(spec.get("EnableSimpleResponses")))
    routes = []
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource.get("Properties", {}).get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            props = event.get("Properties", {})
            api_ref = props.get("ApiId", {}).get("Ref") if isinstance(props.get("ApiId"), dict) else None
            authorizer = default_authorizer.get(api_ref) if api_ref else None
            if "Auth" in props:
                named = props["Auth"].get("Authorizer", authorizer)
                authorizer = None if named == "NONE" else named
            routes.append(Route(method=props.get("Method", "ANY").upper(), path=props.get("Path", "/{proxy+}"),
                                function=logical_id, authorizer=authorizer))
    return routes, authorizers
