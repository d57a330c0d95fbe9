"""Least privilege of the functions' IAM policies, read from infra/template.yaml.

moto does not enforce IAM, so a policy that is too wide (a webhook that could mint an API key) or
too tight (a function that cannot write its own records) passes every other test. This suite
evaluates each function's policy statements with a small evaluator of what the template uses
(Allow statements, action and resource wildcards, `ForAllValues:StringLike` /
`ForAnyValue:StringLike` / `StringLike` / `StringEquals` conditions on `dynamodb:LeadingKeys`) and
checks:
- no function but onboarding can write an `APIKEY#` record, the unauthenticated webhook function
  and the outbound notifier least of all (the authorizer may read them);
- every DynamoDB statement is limited by `dynamodb:LeadingKeys` and grants no action that has
  no leading keys (a Scan would pass a `ForAllValues` condition, its key set being empty);
- each function can do what its code does: the keys listed below, taken from the store modules
  (`shared/src/store/*.rs`) and the workflows each function runs (docs/iam.md has the mapping);
- every prefix a policy grants is one of those keys' (nothing granted without a reason).

Run with `cd infra/local && ../../.venv/bin/python -m unittest -v test_iam`.
"""

from __future__ import annotations

import fnmatch
import re
import unittest
from dataclasses import dataclass, field
from pathlib import Path

import template

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
DOC = Path(__file__).resolve().parents[2] / "docs" / "iam.md"
STACK = "t"

# ----------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes: an action on a resource with its request context."""

    action: str  # "dynamodb:PutItem", "s3:GetObject", ...
    resource: str  # an ARN
    leading_keys: tuple[str, ...] = ()  # dynamodb:LeadingKeys


def arn_of(resolver: template.Resolver, logical_id: str) -> str:
    return resolver.get_att(logical_id, "Arn")


class Table:
    """Builds the requests DynamoDB authorises for each call the store makes."""

    def __init__(self, resolver: template.Resolver):
        self.arn = arn_of(resolver, "Table")

    def call(self, operation: str, pk: str, index: str | None = None) -> list[Request]:
        """`operation` as the store calls it: an API name, or `Transact<Put|Update|Delete|
        ConditionCheck>` for one item of a TransactWriteItems, `Batch<Put|Delete>` for one of a
        BatchWriteItem."""
        resource = f"{self.arn}/index/{index}" if index else self.arn
        if index and operation != "Query":
            raise ValueError(f"{operation} cannot name an index")
        if operation.startswith("Transact"):
            # Each item of a transaction is authorised as its underlying action
            # (dynamodb:TransactWriteItems is no IAM action at all).
            underlying = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                          "ConditionCheck": "ConditionCheckItem"}[operation.removeprefix("Transact")]
            return [Request(f"dynamodb:{underlying}", resource, (pk,))]
        if operation.startswith("Batch") and operation != "BatchGetItem":
            return [Request("dynamodb:BatchWriteItem", resource, (pk,))]
        return [Request(f"dynamodb:{operation}", resource, (pk,))]


WRITES = ["PutItem", "UpdateItem", "DeleteItem", "BatchPut", "BatchDelete", "TransactPut",
          "TransactUpdate", "TransactDelete"]
WRITE_ACTIONS = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                 "dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem"}
# Every DynamoDB action a function may have: each one carries the keys it touches. (Not
# dynamodb:TransactWriteItems: IAM has no such action, transactions are authorised per item.)
KEYED_ACTIONS = WRITE_ACTIONS | {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}

# ----------------------------------------------------------------------------- evaluator


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _like(pattern: str, value: str) -> bool:
    # IAM's StringLike: `*` any run of characters (slashes included), `?` one character.
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _condition_holds(condition: dict, request: Request) -> bool:
    for operator, tests in condition.items():
        for key, patterns in tests.items():
            if key != "dynamodb:LeadingKeys":
                raise AssertionError(f"the evaluator does not know the condition key {key}")
            patterns = _as_list(patterns)
            values = request.leading_keys
            if operator == "ForAllValues:StringLike":
                ok = all(any(_like(p, v) for p in patterns) for v in values)
            elif operator == "ForAnyValue:StringLike":
                ok = any(any(_like(p, v) for p in patterns) for v in values)
            elif operator == "ForAllValues:StringEquals":
                ok = all(v in patterns for v in values)
            elif operator in ("StringLike", "StringEquals"):
                # A single-valued operator on a multivalued key: IAM's result is undefined
                # for several values; accept one value only.
                match = _like if operator == "StringLike" else (lambda p, v: p == v)
                ok = len(values) == 1 and any(match(p, values[0]) for p in patterns)
            else:
                raise AssertionError(f"the evaluator does not know the operator {operator}")
            if not ok:
                return False
    return True


def _matches(statement: dict, request: Request) -> bool:
    actions = _as_list(statement.get("Action", []))
    if not any(fnmatch.fnmatchcase(request.action.lower(), a.lower()) for a in actions):
        return False
    if not any(_like(r, request.resource) for r in _as_list(statement.get("Resource", []))):
        return False
    return _condition_holds(statement.get("Condition", {}), request)


def allowed(statements: list[dict], requests: list[Request]) -> bool:
    """IAM's answer for every request: an explicit Deny wins, else some Allow must match."""
    for request in requests:
        if any(s["Effect"] == "Deny" and _matches(s, request) for s in statements):
            return False
        if not any(s["Effect"] == "Allow" and _matches(s, request) for s in statements):
            return False
    return True


# ----------------------------------------------------------------------------- the template


BINARIES: dict[str, str] = {}  # logical id -> binary (as docs/iam.md names functions)


def load_policies() -> tuple[dict[str, list[dict]], template.Resolver]:
    """Each function's policy statements, intrinsics resolved (stack `t`)."""
    tpl = template.load(TEMPLATE)
    resolver = template.Resolver(tpl, STACK, "http://127.0.0.1:1")
    functions = {}
    for logical_id, resource in tpl["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        statements = []
        for policy in resource["Properties"].get("Policies", []):
            if not isinstance(policy, dict) or "Statement" not in policy:
                raise AssertionError(f"{logical_id}: only inline statements are evaluated, not {policy!r}")
            statements += resolver.resolve(policy["Statement"])
        functions[logical_id] = statements
        BINARIES[logical_id] = resource["Metadata"]["BuildProperties"]["Binary"]
    return functions, resolver


# ----------------------------------------------------------------------------- what the code does

# Representative calls of each function, from the store modules it reaches (see docs/iam.md):
# (operation, partition key, index). Each must be allowed, and every LeadingKeys pattern a
# function's policy grants must be used by one of them.
P = "ptn_01"  # a partner id
D = "ptn_0d"  # a distributor id
CALLS: dict[str, list[tuple[str, str, str | None]]] = {
    "AuthorizerFunction": [
        ("GetItem", "APIKEY#k1", None),  # api_keys::get_key
    ],
    "OnboardingFunction": [
        ("PutItem", "INVITE#h1", None),  # create_invitation
        ("GetItem", "INVITE#h1", None),  # invitation; apply's refusal
        ("TransactUpdate", "INVITE#h1", None),  # apply: the invitation used
        ("TransactPut", f"PARTNER#{P}", None),  # apply; save_onboarding with the partner
        ("TransactPut", f"ONBOARDING#{P}", None),  # apply; save_onboarding; hand_out_key
        ("TransactPut", f"APIKEY#k1", None),  # apply (onboarding key); hand_out_key
        ("TransactConditionCheck", f"PARTNER#{P}", None),  # hand_out_key: still active
        ("TransactUpdate", "APIKEY#k0", None),  # hand_out_key: the onboarding key revoked
        ("TransactPut", f"TIERHIST#{P}", None),  # save_onboarding with a tier change
        ("UpdateItem", "APIKEY#k2", None),  # revoke_key (deactivation)
        ("GetItem", f"PARTNER#{P}", None),
        ("GetItem", f"ONBOARDING#{P}", None),
        ("Query", f"TIERHIST#{P}", None),  # tier_history
        ("Query", f"PARTNERSALES#{P}", None),  # partner_sales (tier when a course is recorded)
        ("Query", f"PRINCIPAL#{P}", "gsi1"),  # list_keys (deactivation)
        ("Query", "PARTNERS", "gsi1"),  # list_partners
        # Deactivation disables the partner's subscriptions (issue 16).
        ("Query", "SUBSCRIPTIONS", "gsi1"),
        ("GetItem", "SUBSCRIPTION#sub_1", None),
        ("PutItem", "SUBSCRIPTION#sub_1", None),
        ("UpdateItem", "SUBSCRIPTION#sub_1", None),
    ],
    "OnboardingSweepFunction": [
        ("Query", "PARTNERS", "gsi1"),
        ("GetItem", f"PARTNER#{P}", None),
        ("GetItem", f"ONBOARDING#{P}", None),
        ("TransactPut", f"ONBOARDING#{P}", None),  # reminders, activation, tiers
        ("TransactPut", f"PARTNER#{P}", None),
        ("TransactPut", f"TIERHIST#{P}", None),
        ("Query", f"TIERHIST#{P}", None),
        ("Query", f"PARTNERSALES#{P}", None),
    ],
    "DealSubmitFunction": [
        ("GetItem", f"PARTNER#{P}", None),
        ("BatchGetItem", "SKU#NW-1", None),  # known_skus
        ("TransactPut", "DEAL#deal_1", None),  # create_deal: the deal and its history
        ("TransactPut", "DEALCUST#name:acme", None),  # create_deal: conflict index
        ("TransactUpdate", "DEAL#deal_1", None),  # apply_transition
        ("TransactUpdate", "DEALCUST#domain:acme.com", None),
        ("TransactPut", "DEALLOCK#name:acme#NW-1", None),  # approval by a manager
        ("TransactDelete", "DEALLOCK#name:acme#NW-1", None),  # an outcome frees it
        ("UpdateItem", "DEAL#deal_1", None),  # mark_expiry_warned (same workflow)
        ("Query", "DEAL#deal_1", None),  # get_deal
        ("Query", "DEALCUST#name:acme", None),  # claims_on
        ("Query", f"PARTNER_DEALS#{P}", "gsi1"),  # list_deals
        ("Query", "DEAL_STATUS#submitted", "gsi2"),
    ],
    "DealApproveFunction": [
        ("GetItem", f"PARTNER#{P}", None),
        ("Query", "DEAL#deal_1", None),
        ("Query", "DEALCUST#name:acme", None),
        ("TransactUpdate", "DEAL#deal_1", None),
        ("TransactPut", "DEAL#deal_1", None),
        ("TransactUpdate", "DEALCUST#name:acme", None),
        ("TransactPut", "DEALLOCK#domain:acme.com#NW-1", None),  # auto-approval
        ("TransactDelete", "DEALLOCK#domain:acme.com#NW-1", None),  # expiry
        ("UpdateItem", "DEAL#deal_1", None),  # mark_expiry_warned
        ("Query", "DEAL_STATUS#approved", "gsi2"),  # deals_due
    ],
    "PosIngestFunction": [
        ("PutItem", "POSFILE#file_1", None),  # create_file, save_file
        ("GetItem", "POSFILE#file_1", None),
        ("TransactPut", "POSFILE#file_1", None),  # save_file with a chunk's rejects
        ("Query", "POSFILE#file_1", None),  # rejects
        ("PutItem", f"POSLEASE#{D}", None),  # claim_lease
        ("DeleteItem", f"POSLEASE#{D}", None),  # release_lease
        ("GetItem", f"DISTPROFILE#{D}", None),
        ("GetItem", f"PARTNER#{D}", None),
        ("Query", "PARTNERS", "gsi1"),  # list_partners (reseller matching)
        ("Query", f"RESELLERALIAS#{D}", None),
        ("BatchGetItem", "SKU#NW-1", None),
        ("BatchGetItem", f"POSLINE#{D}#INV-1", None),  # first_reports
        ("BatchGetItem", f"INVLINE#{D}#2026-12-01#main", None),
        ("BatchPut", f"POSLINE#{D}#INV-1", None),  # put_lines
        ("BatchPut", f"INVLINE#{D}#2026-12-01#main", None),
    ],
    "PosApiFunction": [
        ("UpdateItem", "SKU#NW-1", None),  # put_entries_as_of
        ("PutItem", f"DISTPROFILE#{D}", None),
        ("GetItem", f"DISTPROFILE#{D}", None),
        ("GetItem", "POSFILE#file_1", None),
        ("GetItem", f"PARTNER#{D}", None),
        ("Query", f"DIST_FILES#{D}", "gsi1"),
        ("Query", "POS_FILES", "gsi2"),
        ("Query", f"HELD#{D}", "gsi1"),
        ("Query", f"RELEASING#{D}", "gsi1"),
        ("UpdateItem", f"POSLINE#{D}#INV-1", None),  # mark_releasing, finish_release
        ("PutItem", f"RESELLERALIAS#{D}", None),
    ],
    "RebateAccrueFunction": [
        ("GetItem", f"PARTNER#{P}", None),
        ("Query", "PROGRAMS", None),
        ("BatchGetItem", f"ACCRUAL#{P}#2026-12", None),  # read_groups
        ("BatchGetItem", f"ACCAPPLIED#{P}#prg_1#v0001#2026-12", None),
        ("TransactPut", f"ACCAPPLIED#{P}#prg_1#v0001#2026-12", None),  # write_group
        ("TransactPut", f"ACCRUAL#{P}#2026-12", None),
        ("TransactUpdate", f"ACCRUAL#{P}#2026-12", None),
        ("TransactUpdate", "FUND#fund_coop", None),  # co-op credit
        ("TransactPut", "SALESAPPLIED#msg_1", None),  # add_partner_sales
        ("TransactUpdate", f"PARTNERSALES#{P}", None),
    ],
    "RebateApiFunction": [
        ("GetItem", f"PARTNER#{P}", None),
        ("PutItem", "PROGRAMS", None),  # create_program
        ("TransactPut", "PROGRAMS", None),  # add_program_version
        ("Query", "PROGRAMS", None),
        ("Query", f"ACCRUAL#{P}#2026-12", None),  # period_ledger
    ],
    "ClaimUploadFunction": [
        ("GetItem", f"PARTNER#{P}", None),
        ("PutItem", "FUND#fund_1", None),
        ("GetItem", "FUND#fund_1", None),
        ("Query", f"PARTNER_FUNDS#{P}", "gsi1"),
        ("PutItem", "MDFREQ#mdf_1", None),
        ("GetItem", "MDFREQ#mdf_1", None),
        ("Query", f"PARTNER_MDF#{P}", "gsi1"),
        ("TransactPut", "CLAIM#clm_1", None),  # create_claim, transition_claim
        ("GetItem", "CLAIM#clm_1", None),
        ("Query", "CLAIM#clm_1", None),  # claim_audit
        ("Query", f"PARTNER_CLAIMS#{P}", "gsi1"),
        ("Query", "CLAIM_STATUS#needs_review", "gsi2"),
        ("TransactUpdate", "FUND#fund_1", None),  # release, pay
        ("TransactDelete", "CLAIMKEY#abc", None),  # a rejection frees the duplicate key
        ("TransactPut", "CLAIMKEY#abc", None),
        ("TransactUpdate", "MDFREQ#mdf_1", None),
        ("PutItem", "SDAUTH#sda_1", None),
        ("GetItem", "SDAUTH#sda_1", None),
        ("Query", f"DIST_SDAUTH#{D}", "gsi1"),
        ("BatchGetItem", f"POSLINE#{D}#INV-1", None),  # the claimed lines
        ("TransactPut", "SDCLAIM#sdc_1", None),  # record_ship_debit
        ("TransactUpdate", "SDAUTH#sda_1", None),
        ("TransactPut", f"SDLINE#POSLINE#{D}#INV-1#LINE#1", None),
        ("Query", f"DIST_SDCLAIMS#{D}", "gsi1"),
    ],
    "ClaimValidateFunction": [
        ("GetItem", "CLAIM#clm_1", None),
        ("GetItem", "FUND#fund_1", None),
        ("GetItem", "MDFREQ#mdf_1", None),
        ("TransactPut", "CLAIM#clm_1", None),  # the claim and its audit line
        ("TransactUpdate", "FUND#fund_1", None),  # the reservation
        ("TransactPut", "CLAIMKEY#abc", None),  # the duplicate key held
        ("TransactUpdate", "MDFREQ#mdf_1", None),  # the pre-approval held
        ("Query", "CLAIM_STATUS#submitted", "gsi2"),  # the sweep of claims left submitted
    ],
    "InventoryAlertsFunction": [
        ("BatchPut", f"INVHIST#{D}#NW-1", None),  # record_snapshots
        ("BatchPut", "INVSKU#NW-1", None),
        ("PutItem", f"INVDIST#{D}", None),
        ("BatchGetItem", f"INVSTATE#{D}", None),  # stock_records
        ("PutItem", f"INVSTATE#{D}", None),  # put_stock_record, clear_outbox
        ("Query", f"INVSTATE#{D}", None),  # distributor_stock
        ("BatchGetItem", "THRESHOLD#NW-1", None),
        ("BatchGetItem", f"SELLOUT#{D}#NW-1", None),
        ("TransactPut", "INVAPPLIED#msg_1", None),  # add_sell_out
        ("TransactUpdate", f"SELLOUT#{D}#NW-1", None),
        ("Query", "INV_DISTRIBUTORS", "gsi1"),
        ("Query", "INVSKU#NW-1", None),
        ("Query", f"INVHIST#{D}#NW-1", None),
        ("GetItem", "PRICECHANGE#pc_1", None),
        ("UpdateItem", "PRICECHANGE#pc_1", None),  # finish_price_change
        ("Query", "PRICE_CHANGES_PENDING", "gsi2"),
        ("Query", "PPCREDIT#pc_1", None),  # change_credits
        ("PutItem", "PPCREDIT#pc_1", None),  # put_credit
    ],
    "InventoryApiFunction": [
        ("GetItem", f"PARTNER#{D}", None),
        ("BatchGetItem", "SKU#NW-1", None),
        ("TransactPut", "THRESHOLD#NW-1", None),  # put_thresholds
        ("Query", "THRESHOLD#NW-1", None),
        ("Query", "THRESHOLDS", "gsi1"),
        ("BatchGetItem", "THRESHOLD#NW-1", None),
        ("Query", f"INVSTATE#{D}", None),
        ("Query", "INV_OPEN_ALERTS", "gsi1"),
        ("Query", f"INV_OPEN_ALERTS#{D}", "gsi2"),
        ("TransactPut", "SHIPMENT#s1", None),  # record_shipments
        ("TransactUpdate", f"SELLIN#{D}#NW-1", None),
        ("BatchGetItem", "SHIPMENT#s1", None),
        ("Query", f"SELLIN#{D}#NW-1", None),  # reconciliation
        ("Query", f"SELLOUT#{D}#NW-1", None),
        ("Query", f"INVHIST#{D}#NW-1", None),
        ("PutItem", "PRICECHANGE#pc_1", None),
        ("GetItem", "PRICECHANGE#pc_1", None),
        ("Query", "PRICE_CHANGES", "gsi1"),
        ("Query", f"DIST_PPCREDITS#{D}", "gsi1"),
        ("Query", "PPCREDITS", "gsi2"),
    ],
    "WebhookIngestFunction": [
        ("PutItem", "WHSOURCE#erp", None),  # create_source, save_source
        ("GetItem", "WHSOURCE#erp", None),
        ("Query", "WEBHOOK_SOURCES", "gsi1"),
        ("PutItem", "WHEVENT#erp#evt-1", None),  # record_event
        ("GetItem", "WHEVENT#erp#evt-1", None),
        ("UpdateItem", "WHEVENT#erp#evt-1", None),  # marked queued
        ("Query", "WHEVENTS#erp", "gsi1"),  # recent_events
    ],
    "WebhookRouteFunction": [
        ("GetItem", "WHEVENT#erp#evt-1", None),
        ("UpdateItem", "WHEVENT#erp#evt-1", None),
        ("Query", "WHEVENTS_UNQUEUED", "gsi2"),
        ("UpdateItem", "SKU#NW-1", None),  # catalog.updated
        ("BatchGetItem", "SKU#NW-1", None),  # price.changed
        ("PutItem", "PRICECHANGE#pc_1", None),
        ("GetItem", "PRICECHANGE#pc_1", None),
        ("GetItem", f"PARTNER#{P}", None),  # training.completed
        ("GetItem", f"ONBOARDING#{P}", None),
        ("TransactPut", f"ONBOARDING#{P}", None),
        ("TransactPut", f"PARTNER#{P}", None),
        ("TransactPut", f"TIERHIST#{P}", None),
        ("Query", f"TIERHIST#{P}", None),
        ("Query", f"PARTNERSALES#{P}", None),
        ("Query", "DEAL#deal_1", None),  # opportunity.updated
        ("TransactUpdate", "DEAL#deal_1", None),
        ("TransactPut", "DEAL#deal_1", None),
        ("TransactUpdate", "DEALCUST#name:acme", None),
        ("TransactDelete", "DEALLOCK#name:acme#NW-1", None),
        ("TransactPut", "SHIPMENT#s1", None),  # shipment.created
        ("TransactUpdate", f"SELLIN#{D}#NW-1", None),
        ("BatchGetItem", "SHIPMENT#s1", None),
    ],
    # Serves the compiled-in OpenAPI document and docs page: no AWS call at all.
    "WebFunction": [],
    "SubscriptionsFunction": [
        ("PutItem", "SUBSCRIPTION#sub_1", None),  # create_subscription
        ("GetItem", "SUBSCRIPTION#sub_1", None),
        ("DeleteItem", "SUBSCRIPTION#sub_1", None),
        ("Query", "SUBSCRIPTIONS", "gsi1"),
        ("Query", "DELIVERIES#sub_1", "gsi1"),  # recent_deliveries
    ],
    "NotifyFunction": [
        ("Query", "SUBSCRIPTIONS", "gsi1"),
        ("GetItem", "SUBSCRIPTION#sub_1", None),  # subscription, delivery
        ("PutItem", "SUBSCRIPTION#sub_1", None),  # create_delivery, save_delivery, status
        ("UpdateItem", "SUBSCRIPTION#sub_1", None),  # claim_attempt
        ("GetItem", f"PARTNER#{P}", None),  # fan-out skips inactive owners
        ("BatchGetItem", f"PARTNER#{P}", None),
    ],
}

# Object and queue access each function needs: (action, logical id of the bucket or queue,
# object key or None for the bucket itself / the queue).
OTHER: dict[str, list[tuple[str, str, str | None]]] = {
    "OnboardingFunction": [
        ("s3:PutObject", "DocumentsBucket", f"onboarding/{P}/tax_form/01/w9.pdf"),  # presigned
        ("s3:GetObject", "DocumentsBucket", f"onboarding/{P}/tax_form/01/w9.pdf"),  # HeadObject
        ("s3:ListBucket", "DocumentsBucket", None),  # a missing object answers 404, not 403
    ],
    "ClaimUploadFunction": [
        ("s3:PutObject", "DocumentsBucket", "claims/clm_1/0-attendees.csv"),
    ],
    "ClaimValidateFunction": [
        ("s3:GetObject", "DocumentsBucket", "claims/clm_1/0-attendees.csv"),
        ("s3:ListBucket", "DocumentsBucket", None),
        ("sqs:SendMessage", "NotificationsQueue", None),
        ("sqs:SendMessage", "ClaimSubmittedQueue", None),  # the sweep re-queues claims
    ],
    "PosIngestFunction": [
        ("s3:GetObject", "DropBucket", f"{D}/pos/week 47.csv"),
        ("s3:GetObjectVersion", "DropBucket", f"{D}/pos/week 47.csv"),
        ("s3:GetObjectVersion", "DropBucket", f"{D}/inventory/stock.xlsx"),
        ("s3:PutObject", "DropBucket", f"{D}/rejects/pos/week 47.file_1.csv"),
        # NoSuchKey / NoSuchVersion (a file deleted before it was read) is refused with a
        # reason; without ListBucket S3 answers AccessDenied and the message is retried.
        ("s3:ListBucket", "DropBucket", None),
    ],
}

# What must stay out of reach: (function, operation, partition key).
FORBIDDEN_WRITES = [
    ("PosIngestFunction", "s3:PutObject", f"{D}/pos/week 47.csv"),  # its own input
    ("ClaimUploadFunction", "s3:PutObject", f"onboarding/{P}/tax_form/01/w9.pdf"),
    ("OnboardingFunction", "s3:PutObject", "claims/clm_1/0-attendees.csv"),
]


class IamTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.policies, cls.resolver = load_policies()
        cls.table = Table(cls.resolver)

    def can(self, function: str, operation: str, pk: str, index: str | None = None) -> bool:
        return allowed(self.policies[function], self.table.call(operation, pk, index))

    def can_other(self, function: str, action: str, logical_id: str, key: str | None) -> bool:
        arn = arn_of(self.resolver, logical_id)
        resource = f"{arn}/{key}" if key is not None else arn
        return allowed(self.policies[function], [Request(action, resource)])

    def test_the_evaluator_refuses_and_allows_as_iam_does(self):
        table = self.table.arn
        statements = [{"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": table,
                       "Condition": {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["DEAL#*"]}}}]
        self.assertTrue(allowed(statements, [Request("dynamodb:PutItem", table, ("DEAL#1",))]))
        self.assertFalse(allowed(statements, [Request("dynamodb:PutItem", table, ("APIKEY#1",))]))
        self.assertFalse(allowed(statements, [Request("dynamodb:PutItem", table, ("DEAL#1", "APIKEY#1"))]))
        self.assertFalse(allowed(statements, [Request("dynamodb:UpdateItem", table, ("DEAL#1",))]))
        self.assertFalse(allowed(statements, [Request("dynamodb:PutItem", f"{table}-x", ("DEAL#1",))]))
        # An empty key set satisfies ForAllValues: why no statement may grant a Scan.
        self.assertTrue(allowed(statements, [Request("dynamodb:PutItem", table, ())]))
        deny = statements + [{"Effect": "Deny", "Action": "dynamodb:*", "Resource": "*"}]
        self.assertFalse(allowed(deny, [Request("dynamodb:PutItem", table, ("DEAL#1",))]))

    def test_every_function_is_listed_here(self):
        self.assertEqual(sorted(self.policies), sorted(CALLS))

    def test_the_webhook_and_the_notifier_cannot_write_an_api_key(self):
        for function in ["WebhookIngestFunction", "NotifyFunction"]:
            for operation in WRITES:
                with self.subTest(function=function, operation=operation):
                    self.assertFalse(self.can(function, operation, "APIKEY#x"),
                                     f"{function} may {operation} an API key")

    def test_only_onboarding_writes_api_keys_and_only_it_and_the_authorizer_read_them(self):
        for function in self.policies:
            if function == "OnboardingFunction":
                continue
            for operation in WRITES + ["TransactConditionCheck"]:
                with self.subTest(function=function, operation=operation):
                    self.assertFalse(self.can(function, operation, "APIKEY#x"),
                                     f"{function} may {operation} an API key")
            for operation, pk, index in [("GetItem", "APIKEY#x", None), ("Query", "APIKEY#x", None),
                                         ("BatchGetItem", "APIKEY#x", None),
                                         ("Query", "PRINCIPAL#x", "gsi1")]:
                with self.subTest(function=function, read=operation, index=index):
                    expected = function == "AuthorizerFunction" and operation == "GetItem"
                    self.assertEqual(self.can(function, operation, pk, index), expected,
                                     f"{function} {operation} {pk}")

    def test_every_dynamodb_statement_is_limited_by_leading_keys(self):
        for function, statements in self.policies.items():
            for statement in statements:
                actions = [a for a in _as_list(statement["Action"]) if a.lower().startswith("dynamodb:")]
                if not actions or statement["Effect"] != "Allow":
                    continue
                with self.subTest(function=function, actions=actions):
                    for action in actions:
                        self.assertIn(action, KEYED_ACTIONS,
                                      f"{action}: not an action whose keys a condition can limit")
                    condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
                    patterns = _as_list(condition.get("dynamodb:LeadingKeys", []))
                    self.assertTrue(patterns, f"{function}: {actions} not limited by dynamodb:LeadingKeys")
                    for pattern in patterns:
                        # A constant partition (PROGRAMS) or one record kind (DEAL#*), never more.
                        self.assertRegex(pattern, r"^[A-Z][A-Z_]*(#\*)?$",
                                         f"{function}: {pattern!r} is not a key prefix")

    def test_every_write_statement_is_limited_by_leading_keys(self):
        for function, statements in self.policies.items():
            for statement in statements:
                writes = [a for a in _as_list(statement["Action"])
                          if any(fnmatch.fnmatchcase(w.lower(), a.lower()) for w in WRITE_ACTIONS)]
                if writes and statement["Effect"] == "Allow":
                    with self.subTest(function=function, actions=writes):
                        condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
                        self.assertTrue(condition.get("dynamodb:LeadingKeys"),
                                        f"{function} may {writes} any key")

    def test_each_function_can_do_what_its_code_does(self):
        for function, calls in CALLS.items():
            for operation, pk, index in calls:
                with self.subTest(function=function, operation=operation, pk=pk, index=index):
                    self.assertTrue(self.can(function, operation, pk, index),
                                    f"{function} cannot {operation} {pk} (index {index})")
        for function, needs in OTHER.items():
            for action, logical_id, key in needs:
                with self.subTest(function=function, action=action, resource=logical_id, key=key):
                    self.assertTrue(self.can_other(function, action, logical_id, key),
                                    f"{function} cannot {action} {logical_id} {key}")

    def test_nothing_out_of_reach_is_granted(self):
        for function, action, key in FORBIDDEN_WRITES:
            bucket = "DropBucket" if function == "PosIngestFunction" else "DocumentsBucket"
            with self.subTest(function=function, key=key):
                self.assertFalse(self.can_other(function, action, bucket, key))
        # A function writes only the record kinds its own calls write.
        every_key = {pk for calls in CALLS.values() for _, pk, _ in calls} | {"APIKEY#x"}
        for function, calls in CALLS.items():
            own = {prefix(pk) for operation, pk, _ in calls if operation in WRITES}
            for pk in sorted(every_key):
                if prefix(pk) in own:
                    continue
                for operation in WRITES:
                    with self.subTest(function=function, operation=operation, pk=pk):
                        self.assertFalse(self.can(function, operation, pk),
                                         f"{function} may {operation} {pk}, a kind it never writes")

    def test_every_granted_prefix_is_used_by_a_listed_call(self):
        for function, statements in self.policies.items():
            keys = {pk for _, pk, _ in CALLS[function]}
            for statement in statements:
                condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
                for pattern in _as_list(condition.get("dynamodb:LeadingKeys", [])):
                    with self.subTest(function=function, pattern=pattern):
                        self.assertTrue(any(_like(pattern, k) for k in keys),
                                        f"{function}: {pattern} is granted but no listed call uses it")

    def test_docs_iam_md_lists_what_the_template_grants(self):
        granted = {}
        for function, statements in self.policies.items():
            columns = {"reads": set(), "index": set(), "writes": set()}
            for statement in statements:
                actions = set(_as_list(statement["Action"]))
                patterns = _as_list(statement.get("Condition", {}).get("ForAllValues:StringLike", {})
                                    .get("dynamodb:LeadingKeys", []))
                if not patterns:
                    continue
                on_index = all(r.endswith("/index/*") for r in _as_list(statement["Resource"]))
                column = "index" if on_index else "writes" if actions & WRITE_ACTIONS else "reads"
                columns[column] |= {p.removesuffix("*") for p in patterns}
            granted[BINARIES[function]] = columns
        documented = {}
        for line in DOC.read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.split("|")[1:-1]]
            if len(cells) == 5 and cells[0] in granted:
                documented[cells[0]] = {
                    name: set(re.findall(r"`([A-Z][A-Z_]*#?)`", cell))
                    for name, cell in zip(["reads", "index", "writes"], cells[1:4])}
        for function, columns in granted.items():
            with self.subTest(function=function):
                self.assertEqual(documented.get(function), columns,
                                 f"docs/iam.md and the template disagree on {function}")


def prefix(pk: str) -> str:
    """The record kind of a partition key: `DEAL#` for `DEAL#d1`, `PROGRAMS` for itself."""
    return pk.split("#", 1)[0] + "#" if "#" in pk else pk


if __name__ == "__main__":
    unittest.main()
