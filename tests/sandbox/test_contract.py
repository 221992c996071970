"""Every response the sandbox serves validates against Amazon's published models.

The response schema for (path, method, status) is taken from the Swagger 2.0
model and checked with ``jsonschema.Draft4Validator`` over a ``referencing``
Registry holding the whole model, so ``#/definitions/...`` refs resolve, with a
FormatChecker so ``date-time`` values are checked. Amazon's schemas allow extra
properties; these tests forbid them (``additionalProperties: false`` is added to
every object schema that lists its properties), so the sandbox cannot invent
fields. A status the model does not document for the operation fails the test.
"""

from __future__ import annotations

import copy
import functools
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from jsonschema import Draft4Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from sellerops.sandbox import reports as rpt
from sellerops.sandbox.faults import FaultRule
from sellerops.sandbox.ratelimit import models_dir
from tests.sandbox.conftest import BLUEBIRD, JP, US

MODEL_FILES = {
    "orders": "orders_2026-01-01.json",
    "reports": "reports_2021-06-30.json",
    "finances": "financesV0.json",
    "solicitations": "solicitations.json",
    "messaging": "messaging.json",
}

pytestmark = pytest.mark.skipif(
    not all((models_dir() / f).exists() for f in MODEL_FILES.values()),
    reason=f"SP-API models not found in {models_dir()}",
)

ALL_DATA = "BUYER,RECIPIENT,PROCEEDS,EXPENSE,PROMOTION,CANCELLATION,FULFILLMENT,PACKAGES,TAX,PAYMENT,FULFILLMENT_ORDERS"


@dataclass(frozen=True)
class Op:
    model: str
    path: str
    method: str
    path_params: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def url(self) -> str:
        return self.path.format(**self.path_params)


MSG = "/messaging/v1/orders/{amazonOrderId}/messages/"
OPS: dict[str, Op] = {
    "searchOrders": Op(
        "orders",
        "/orders/2026-01-01/orders",
        "get",
        params={"createdAfter": "2026-01-01T00:00:00Z"},
    ),
    "getOrder": Op(
        "orders", "/orders/2026-01-01/orders/{orderId}", "get", {"orderId": "111-0000001-0000001"}
    ),
    "getReports": Op(
        "reports", "/reports/2021-06-30/reports", "get", params={"reportTypes": rpt.SELLER_FEEDBACK}
    ),
    "createReport": Op(
        "reports",
        "/reports/2021-06-30/reports",
        "post",
        body={
            "reportType": rpt.SELLER_FEEDBACK,
            "marketplaceIds": [US],
            "dataStartTime": "2026-01-01T00:00:00Z",
        },
    ),
    "getReport": Op(
        "reports", "/reports/2021-06-30/reports/{reportId}", "get", {"reportId": "50000019001"}
    ),
    "cancelReport": Op(
        "reports", "/reports/2021-06-30/reports/{reportId}", "delete", {"reportId": "50000019001"}
    ),
    "getReportDocument": Op(
        "reports",
        "/reports/2021-06-30/documents/{reportDocumentId}",
        "get",
        {"reportDocumentId": "amzn1.spdoc.1.4.na.x"},
    ),
    "listFinancialEvents": Op(
        "finances",
        "/finances/v0/financialEvents",
        "get",
        params={"PostedAfter": "2026-01-01T00:00:00Z"},
    ),
    "getSolicitationActionsForOrder": Op(
        "solicitations",
        "/solicitations/v1/orders/{amazonOrderId}",
        "get",
        {"amazonOrderId": "111-0000001-0000001"},
        {"marketplaceIds": US},
    ),
    "createProductReviewAndSellerFeedbackSolicitation": Op(
        "solicitations",
        "/solicitations/v1/orders/{amazonOrderId}/solicitations/productReviewAndSellerFeedback",
        "post",
        {"amazonOrderId": "111-0000001-0000001"},
        {"marketplaceIds": US},
    ),
    "getMessagingActionsForOrder": Op(
        "messaging",
        "/messaging/v1/orders/{amazonOrderId}",
        "get",
        {"amazonOrderId": "111-0000004-0000004"},
        {"marketplaceIds": US},
    ),
    "GetAttributes": Op(
        "messaging",
        "/messaging/v1/orders/{amazonOrderId}/attributes",
        "get",
        {"amazonOrderId": "111-0000004-0000004"},
        {"marketplaceIds": US},
    ),
    "createConfirmOrderDetails": Op(
        "messaging",
        MSG + "confirmOrderDetails",
        "post",
        {"amazonOrderId": "111-0000004-0000004"},
        {"marketplaceIds": US},
        {"text": "Which colour?"},
    ),
    "createConfirmDeliveryDetails": Op(
        "messaging",
        MSG + "confirmDeliveryDetails",
        "post",
        {"amazonOrderId": "111-0000004-0000004"},
        {"marketplaceIds": US},
        {"text": "Gate code?"},
    ),
    "createUnexpectedProblem": Op(
        "messaging",
        MSG + "unexpectedProblem",
        "post",
        {"amazonOrderId": "111-0000004-0000004"},
        {"marketplaceIds": US},
        {"text": "Delayed."},
    ),
    "CreateWarranty": Op(
        "messaging",
        MSG + "warranty",
        "post",
        {"amazonOrderId": "111-0000001-0000001"},
        {"marketplaceIds": US},
        {"coverageStartDate": "2026-02-13T00:00:00Z", "coverageEndDate": "2027-02-13T00:00:00Z"},
    ),
    "confirmCustomizationDetails": Op(
        "messaging",
        MSG + "confirmCustomizationDetails",
        "post",
        {"amazonOrderId": "111-0000004-0000004"},
        {"marketplaceIds": US},
        {"text": "Initials?"},
    ),
    "createLegalDisclosure": Op(
        "messaging",
        MSG + "legalDisclosure",
        "post",
        {"amazonOrderId": "111-0000004-0000004"},
        {"marketplaceIds": US},
        {"attachments": [{"uploadDestinationId": "u1", "fileName": "terms.pdf"}]},
    ),
    "createConfirmServiceDetails": Op(
        "messaging",
        MSG + "confirmServiceDetails",
        "post",
        {"amazonOrderId": "111-0000004-0000004"},
        {"marketplaceIds": US},
        {"text": "When?"},
    ),
    "createDigitalAccessKey": Op(
        "messaging",
        MSG + "digitalAccessKey",
        "post",
        {"amazonOrderId": "111-0000004-0000004"},
        {"marketplaceIds": US},
        {"text": "KEY"},
    ),
    "sendInvoice": Op(
        "messaging",
        MSG + "invoice",
        "post",
        {"amazonOrderId": "111-0000001-0000001"},
        {"marketplaceIds": US},
        {"attachments": [{"uploadDestinationId": "u2", "fileName": "invoice.pdf"}]},
    ),
}


def _strict(node: Any) -> Any:
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and out.get("type", "object") == "object"
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@functools.cache
def model(name: str) -> dict[str, Any]:
    return json.loads((models_dir() / MODEL_FILES[name]).read_text(encoding="utf-8"))


@functools.cache
def registry(name: str) -> tuple[Registry, dict[str, Any]]:
    doc = _strict(copy.deepcopy(model(name)))
    uri = f"urn:spapi:{name}"
    return Registry().with_resource(uri, Resource(contents=doc, specification=DRAFT4)), doc


def operation_of(op: Op) -> dict[str, Any]:
    return model(op.model)["paths"][op.path][op.method]


def validator(op: Op, status: int) -> Draft4Validator | None:
    reg, doc = registry(op.model)
    responses = doc["paths"][op.path][op.method]["responses"]
    assert str(status) in responses, (
        f"{op.method.upper()} {op.path} does not document status {status}"
    )
    schema = responses[str(status)].get("schema")
    if schema is None:
        return None
    if "$ref" in schema:
        root = {"$ref": f"urn:spapi:{op.model}{schema['$ref']}"}
    else:
        root = {**schema, "definitions": doc["definitions"]}
    return Draft4Validator(root, registry=reg, format_checker=Draft4Validator.FORMAT_CHECKER)


def call(
    sandbox,
    op: Op,
    *,
    drop: tuple[str, ...] = (),
    token: str | None = None,
    account: str | None = None,
    **overrides,
):
    params = {
        k: v for k, v in {**op.params, **overrides.pop("params", {})}.items() if k not in drop
    }
    path_params = {**op.path_params, **overrides.pop("path_params", {})}
    body = overrides.pop("body", op.body)
    kwargs: dict[str, Any] = {"params": params}
    if body is not None and "body" not in drop:
        kwargs["json"] = body
    url = op.path.format(**path_params)
    headers = (
        {}
        if token == ""
        else {"x-amz-access-token": token or sandbox.token(account or "acme-outdoor")}
    )
    return sandbox.http.request(op.method.upper(), url, headers=headers, **kwargs)


def check(op_name: str, response, expected: int | None = None) -> Any:
    op = OPS[op_name]
    if expected is not None:
        assert response.status_code == expected, (
            f"{op_name}: {response.status_code} {response.text}"
        )
    v = validator(op, response.status_code)
    assert "x-amzn-RequestId" in response.headers
    if 200 <= response.status_code < 300:
        assert "x-amzn-RateLimit-Limit" in response.headers
    if v is None:
        return None
    body = response.json()
    problems = sorted(v.iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not problems, f"{op_name} {response.status_code}: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in problems[:5]
    )
    return body


def test_model_validator_catches_violations(sandbox):
    """The validator really checks formats, required fields and extra fields."""
    v = validator(OPS["getOrder"], 200)
    order = {
        "orderId": "1",
        "createdTime": "2026-01-01T00:00:00Z",
        "lastUpdatedTime": "2026-01-01T00:00:00Z",
        "salesChannel": {"channelName": "AMAZON"},
        "orderItems": [],
    }
    assert v.is_valid({"order": order})
    assert not v.is_valid({"order": {**order, "createdTime": "01/01/2026"}})
    assert not v.is_valid({"order": {k: x for k, x in order.items() if k != "salesChannel"}})
    assert not v.is_valid({"order": {**order, "invented": 1}})
    assert not validator(OPS["searchOrders"], 400).is_valid({"errors": [{"code": "X"}]})


def test_orders_responses(sandbox):
    for page_size in (1, 3, 100):
        params = {
            "createdAfter": "2026-01-01T00:00:00Z",
            "includedData": ALL_DATA,
            "maxResultsPerPage": page_size,
        }
        body = check("searchOrders", call(sandbox, OPS["searchOrders"], params=params), 200)
        if "pagination" in body:
            params["paginationToken"] = body["pagination"]["nextToken"]
            check("searchOrders", call(sandbox, OPS["searchOrders"], params=params), 200)
    check(
        "searchOrders",
        call(
            sandbox,
            OPS["searchOrders"],
            params={"lastUpdatedAfter": "2026-02-01T00:00:00Z"},
            drop=("createdAfter",),
        ),
        200,
    )
    check("searchOrders", call(sandbox, OPS["searchOrders"], params={"createdAfter": "nope"}), 400)
    check(
        "searchOrders", call(sandbox, OPS["searchOrders"], params={"paginationToken": "nope"}), 400
    )
    sandbox.refill()
    for order_id in sandbox.state.orders:
        account = sandbox.state.orders[order_id]["account_id"]
        for included in ("", ALL_DATA):
            params = {"includedData": included} if included else {}
            response = call(
                sandbox,
                OPS["getOrder"],
                path_params={"orderId": order_id},
                params=params,
                account=account,
            )
            check("getOrder", response, 200)
    check(
        "getOrder",
        call(sandbox, OPS["getOrder"], path_params={"orderId": "112-0000009-0000009"}),
        404,
    )
    check("getOrder", call(sandbox, OPS["getOrder"], path_params={"orderId": "bad"}), 400)
    check("getOrder", call(sandbox, OPS["getOrder"], params={"includedData": "NOPE"}), 400)


def test_reports_responses(sandbox):
    def create(report_type, start, end, marketplaces=(US,)):
        body = {
            "reportType": report_type,
            "marketplaceIds": list(marketplaces),
            "dataStartTime": start,
            "dataEndTime": end,
        }
        return check("createReport", call(sandbox, OPS["createReport"], body=body), 202)["reportId"]

    done = create(rpt.SELLER_FEEDBACK, "2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z")
    seen = {}
    for step in (0, 2.5, 3):
        sandbox.clock.advance(step)
        report = check(
            "getReport", call(sandbox, OPS["getReport"], path_params={"reportId": done}), 200
        )
        seen[report["processingStatus"]] = report
    cancelled = create(rpt.FBA_RETURNS, "2026-01-01T00:00:00Z", "2026-01-31T00:00:00Z")
    fatal = create(rpt.ALL_ORDERS, "2025-12-01T00:00:00Z", "2026-02-01T00:00:00Z")
    in_queue = create(rpt.SELLER_FEEDBACK, "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
    assert (
        check(
            "cancelReport",
            call(sandbox, OPS["cancelReport"], path_params={"reportId": in_queue}),
            200,
        )
        is None
    )
    sandbox.clock.advance(10)
    for report_id in (cancelled, fatal, in_queue):
        report = check(
            "getReport", call(sandbox, OPS["getReport"], path_params={"reportId": report_id}), 200
        )
        seen.setdefault(report["processingStatus"], report)
    assert set(seen) == {"IN_QUEUE", "IN_PROGRESS", "DONE", "CANCELLED", "FATAL"}
    for status in ("DONE", "FATAL"):
        document = seen[status]["reportDocumentId"]
        meta = check(
            "getReportDocument",
            call(sandbox, OPS["getReportDocument"], path_params={"reportDocumentId": document}),
            200,
        )
        assert meta["compressionAlgorithm"] == "GZIP"
    check("getReportDocument", call(sandbox, OPS["getReportDocument"]), 404)
    check(
        "getReport", call(sandbox, OPS["getReport"], path_params={"reportId": "99999999999"}), 404
    )
    check("getReport", call(sandbox, OPS["getReport"], path_params={"reportId": "bad"}), 400)
    check("cancelReport", call(sandbox, OPS["cancelReport"], path_params={"reportId": done}), 400)
    check(
        "createReport",
        call(sandbox, OPS["createReport"], body={"reportType": "NOPE", "marketplaceIds": [US]}),
        400,
    )
    listed = check("getReports", call(sandbox, OPS["getReports"], params={"pageSize": 1}), 200)
    check(
        "getReports",
        call(
            sandbox,
            OPS["getReports"],
            params={"nextToken": listed["nextToken"]},
            drop=("reportTypes", "pageSize"),
        ),
        200,
    )
    check(
        "getReports",
        call(sandbox, OPS["getReports"], params={"processingStatuses": "DONE,LOST"}),
        400,
    )


def test_finances_responses(sandbox):
    body = check(
        "listFinancialEvents",
        call(sandbox, OPS["listFinancialEvents"], params={"MaxResultsPerPage": 2}),
        200,
    )
    token = body["payload"]["NextToken"]
    check(
        "listFinancialEvents",
        call(
            sandbox, OPS["listFinancialEvents"], params={"MaxResultsPerPage": 2, "NextToken": token}
        ),
        200,
    )
    check("listFinancialEvents", call(sandbox, OPS["listFinancialEvents"], account=BLUEBIRD), 200)
    check(
        "listFinancialEvents",
        call(sandbox, OPS["listFinancialEvents"], params={"PostedAfter": "2025-01-01T00:00:00Z"}),
        200,
    )
    check(
        "listFinancialEvents",
        call(sandbox, OPS["listFinancialEvents"], params={"MaxResultsPerPage": 0}),
        400,
    )
    check(
        "listFinancialEvents",
        call(sandbox, OPS["listFinancialEvents"], params={"PostedBefore": "2027-01-01T00:00:00Z"}),
        400,
    )


def test_solicitations_responses(sandbox):
    get, post = "getSolicitationActionsForOrder", "createProductReviewAndSellerFeedbackSolicitation"
    body = check(get, call(sandbox, OPS[get]), 200)
    assert body["_links"]["actions"]
    check(get, call(sandbox, OPS[get], path_params={"amazonOrderId": "111-0000002-0000002"}), 200)
    check(
        get,
        call(
            sandbox,
            OPS[get],
            params={"marketplaceIds": JP},
            path_params={"amazonOrderId": "250-0000007-0000007"},
        ),
        200,
    )
    check(get, call(sandbox, OPS[get], path_params={"amazonOrderId": "112-0000009-0000009"}), 404)
    check(post, call(sandbox, OPS[post]), 201)
    check(post, call(sandbox, OPS[post]), 403)
    check(post, call(sandbox, OPS[post], path_params={"amazonOrderId": "111-0000003-0000003"}), 403)
    check(post, call(sandbox, OPS[post], path_params={"amazonOrderId": "999-9999999-9999999"}), 404)


def test_messaging_responses(sandbox):
    check("getMessagingActionsForOrder", call(sandbox, OPS["getMessagingActionsForOrder"]), 200)
    for order_id in ("111-0000001-0000001", "111-0000005-0000005"):
        response = call(
            sandbox, OPS["getMessagingActionsForOrder"], path_params={"amazonOrderId": order_id}
        )
        check("getMessagingActionsForOrder", response, 200)
    check("GetAttributes", call(sandbox, OPS["GetAttributes"]), 200)
    offered = (
        "createConfirmOrderDetails",
        "createConfirmDeliveryDetails",
        "createUnexpectedProblem",
        "CreateWarranty",
    )
    for name in offered:
        check(name, call(sandbox, OPS[name]), 201)
    sandbox.refill()
    for name in (
        "confirmCustomizationDetails",
        "createLegalDisclosure",
        "createConfirmServiceDetails",
        "createDigitalAccessKey",
        "sendInvoice",
    ):
        check(name, call(sandbox, OPS[name]), 403)  # never offered by the sandbox
    sandbox.refill()
    check(
        "createConfirmDeliveryDetails",
        call(sandbox, OPS["createConfirmDeliveryDetails"], body={"text": ""}),
        400,
    )
    check(
        "CreateWarranty",
        call(sandbox, OPS["CreateWarranty"], body={"coverageStartDate": "soon"}),
        400,
    )
    check(
        "createLegalDisclosure",
        call(sandbox, OPS["createLegalDisclosure"], body={"attachments": [{}]}),
        400,
    )
    sends = sandbox.http.get("/sandbox/sends").json()["sends"]
    assert [s["action"] for s in sends] == [
        "confirmOrderDetails",
        "confirmDeliveryDetails",
        "unexpectedProblem",
        "warranty",
    ]


@pytest.mark.parametrize("op_name", sorted(OPS))
def test_gateway_errors_for_every_operation(sandbox, op_name):
    op = OPS[op_name]
    check(op_name, call(sandbox, op, token=""), 403)
    check(op_name, call(sandbox, op, token="Atza|unknown"), 403)
    sandbox.state.faults.add(FaultRule("expired_token", operation=op_name, count=1))
    expired = check(op_name, call(sandbox, op), 403)
    assert expired["errors"][0]["details"] == "The access token you provided has expired."
    sandbox.forget_tokens()
    sandbox.state.faults.add(FaultRule("throttle", operation=op_name, count=1))
    response = call(sandbox, op)
    throttled = check(op_name, response, 429)
    assert throttled["errors"][0]["code"] == "QuotaExceeded"
    assert response.headers["x-amzn-RateLimit-Limit"]
    for status in (500, 503):
        sandbox.state.faults.add(
            FaultRule("server_error", operation=op_name, count=1, status=status)
        )
        check(op_name, call(sandbox, op), status)


def _required(op: Op) -> list[tuple[str, str]]:
    spec = operation_of(op)
    params = list(model(op.model)["paths"][op.path].get("parameters", [])) + list(
        spec.get("parameters", [])
    )
    return [
        (p["in"], p["name"]) for p in params if p.get("required") and p["in"] in ("query", "body")
    ]


def test_every_served_operation_is_in_the_models():
    for name, op in OPS.items():
        assert operation_of(op)["operationId"] == name


@pytest.mark.parametrize(
    "op_name, location, param",
    [(name, where, param) for name, op in sorted(OPS.items()) for where, param in _required(op)]
    if all((models_dir() / f).exists() for f in MODEL_FILES.values())
    else [],
)
def test_required_parameters_are_enforced(sandbox, op_name, location, param):
    op = OPS[op_name]
    response = call(sandbox, op, drop=("body",) if location == "body" else (param,))
    body = check(op_name, response, 400)
    assert body["errors"][0]["code"] == "InvalidInput"


def test_search_orders_date_parameters_are_required_together(sandbox):
    """searchOrders has no required parameter in the model, but needs one of two."""
    response = call(sandbox, OPS["searchOrders"], drop=("createdAfter",))
    check("searchOrders", response, 400)
