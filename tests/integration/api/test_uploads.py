"""/uploads: presigned POSTs to the tenant's upload prefix."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from shared.common.settings import Settings, get_settings
from tests.integration.api.support import (
    XLSX,
    assert_error,
    auth,
    create,
    use_env,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Iterator[str]:
    """An S3 upload bucket in moto, configured as RS_UPLOAD_BUCKET."""
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    with mock_aws():
        import boto3

        boto3.client("s3", region_name="eu-central-1").create_bucket(
            Bucket="rs-uploads", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"}
        )
        use_env(monkeypatch, upload_bucket="rs-uploads", upload_max_bytes=str(10 * 1024 * 1024))
        yield "rs-uploads"


def test_upload_is_a_presigned_post_limited_to_the_declared_size(
    client: TestClient, key_a: str, bucket: str
) -> None:
    request = {"filename": "../../Gas use 2024 (campus).CSV", "content_type": "text/csv", "size_bytes": 1234}
    response = client.post("/uploads", json=request, headers=auth(key_a))
    assert response.status_code == 201, response.text
    ticket = response.json()
    key = ticket["key"]
    assert key.startswith("uploads/tenant-a/") and key.endswith("/Gas_use_2024_campus.csv")
    assert ".." not in key
    assert ticket["method"] == "POST"
    assert bucket in ticket["upload_url"]
    assert ticket["source"] == {"type": "csv", "url": f"s3://{bucket}/{key}", "options": {}}
    assert ticket["max_bytes"] == 1234
    assert datetime.fromisoformat(ticket["expires_at"]) > datetime.now(UTC)
    fields = ticket["fields"]
    assert fields["key"] == key
    assert fields["Content-Type"] == "text/csv"
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert ["content-length-range", 1, 1234] in policy["conditions"]
    assert {"key": key} in policy["conditions"]
    assert {"bucket": bucket} in policy["conditions"]
    assert {"Content-Type": "text/csv"} in policy["conditions"]
    assert "x-amz-signature" in fields
    # The ticket's source is accepted as is by POST /resources.
    assert create(client, key_a, source=ticket["source"])["source"]["url"] == f"s3://{bucket}/{key}"


def test_upload_form_reaches_the_bucket(client: TestClient, key_a: str, bucket: str) -> None:
    import boto3
    import requests

    content = b"year,value\n2020,1.5\n"
    request = {"filename": "co2.xlsx", "content_type": XLSX, "size_bytes": len(content)}
    ticket = client.post("/uploads", json=request, headers=auth(key_a)).json()
    assert ticket["source"]["type"] == "xlsx" and ticket["key"].endswith("/co2.xlsx")
    upload = requests.post(
        ticket["upload_url"], data=ticket["fields"], files={"file": ("co2.xlsx", content)}, timeout=10
    )
    assert upload.status_code in (200, 201, 204), upload.text
    stored = boto3.client("s3", region_name="eu-central-1").get_object(Bucket=bucket, Key=ticket["key"])
    assert stored["Body"].read() == content


def test_upload_errors(client: TestClient, key_a: str, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    too_large = {"filename": "big.csv", "content_type": "text/csv", "size_bytes": 10 * 1024 * 1024 + 1}
    error = assert_error(
        client.post("/uploads", json=too_large, headers=auth(key_a)), 413, "payload_too_large"
    )
    assert error["details"][0]["field"] == "body.size_bytes"
    wrong = {"filename": "a.pdf", "content_type": "application/pdf", "size_bytes": 10}
    error = assert_error(client.post("/uploads", json=wrong, headers=auth(key_a)), 422, "validation_error")
    assert error["details"][0]["field"] == "body.content_type"
    empty = {"filename": "a.csv", "content_type": "text/csv", "size_bytes": 0}
    assert client.post("/uploads", json=empty, headers=auth(key_a)).status_code == 422
    monkeypatch.delenv("RS_UPLOAD_BUCKET")
    get_settings.cache_clear()
    ok = {"filename": "a.csv", "content_type": "text/csv", "size_bytes": 10}
    error = assert_error(client.post("/uploads", json=ok, headers=auth(key_a)), 503, "service_unavailable")
    assert "RS_UPLOAD_BUCKET" in error["message"]
