"""The API's CloudWatch metrics (embedded metric format): carried by each request's log line.

CloudWatch extracts metrics from any JSON log line with an `_aws` member, so the request line is also
the request's metric record: `Requests` (1) and `Latency` (ms) by route, status and service (the
logger's `service` key). One line instead of a log line and a separate EMF record per request.
"""

from __future__ import annotations

import time
from typing import Any

NAMESPACE = "ResourceService"
SERVICE = "resource-service-api"
# Paths no route matched are counted under one name: a scanner's random paths must not become dimensions.
UNMATCHED_ROUTE = "unmatched"
_DIRECTIVES = [
    {
        "Namespace": NAMESPACE,
        "Dimensions": [["route", "status", "service"]],
        "Metrics": [{"Name": "Requests", "Unit": "Count"}, {"Name": "Latency", "Unit": "Milliseconds"}],
    }
]


def request_metrics(*, route: str, status: int, latency_ms: float) -> dict[str, Any]:
    """The members that make a request's log line its EMF record (the line's own `service` completes it)."""
    return {
        "_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": _DIRECTIVES},
        "route": route,
        "status": str(status),  # a dimension value: EMF takes strings only
        "Requests": 1,
        "Latency": round(latency_ms, 3),
    }
