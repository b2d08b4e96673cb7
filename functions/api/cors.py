"""What a browser may send to the API and read from its answers: one list for the app and the template.

Deployed, the HTTP API's `CorsConfiguration` (template.yaml) answers CORS and replaces the app's own;
locally the app's CORS middleware does. tests/unit/test_template.py holds the two to the same lists.
"""

from __future__ import annotations

CORS_ALLOW_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
# Every request header the API reads.
CORS_ALLOW_HEADERS = (
    "Authorization",
    "X-API-Key",
    "Content-Type",
    "Idempotency-Key",
    "X-Request-ID",
    "X-Correlation-Id",
)
# Every response header the API sets on purpose (a browser script may read only these and the basic ones).
CORS_EXPOSE_HEADERS = (
    "X-Request-ID",
    "X-Correlation-Id",
    "Location",
    "Idempotency-Replayed",
    "Content-Disposition",
)
CORS_MAX_AGE_SECONDS = 600
