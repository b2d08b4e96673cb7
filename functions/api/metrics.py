"""The API's CloudWatch metrics (embedded metric format): one record per request, by route and status."""

from __future__ import annotations

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

NAMESPACE = "ResourceService"
SERVICE = "resource-service-api"
# Paths no route matched are counted under one name: a scanner's random paths must not become dimensions.
UNMATCHED_ROUTE = "unmatched"


def record_request(*, route: str, status: int, latency_ms: float) -> None:
    """Print one EMF record of a request: `Requests` (1) and `Latency` (ms), dimensions route and status."""
    # Ephemeral: nothing is shared with other Metrics objects of the process, nothing outlives the request.
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="route", value=route)
    metrics.add_dimension(name="status", value=str(status))
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=round(latency_ms, 3))
    metrics.flush_metrics()
