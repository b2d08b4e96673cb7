"""/resources with a retention window: set on create, changed or removed by PATCH, refused when malformed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.integration.api.support import assert_error, auth, create, resource_body

pytestmark = pytest.mark.integration


def test_a_retention_window_is_kept_changed_and_removed(client: TestClient, key_a: str) -> None:
    resource = create(client, key_a, retention={"months": 24})
    assert resource["retention"] == {"days": None, "months": 24}

    path = f"/resources/{resource['id']}"
    changed = client.patch(path, json={"retention": {"days": 90}}, headers=auth(key_a))
    assert changed.status_code == 200 and changed.json()["retention"] == {"days": 90, "months": None}

    removed = client.patch(path, json={"retention": None}, headers=auth(key_a))
    assert removed.status_code == 200 and removed.json()["retention"] is None
    assert client.get(path, headers=auth(key_a)).json()["retention"] is None


@pytest.mark.parametrize(
    "retention",
    [{"days": 30, "months": 1}, {}, {"months": 0}, {"days": -1}, {"weeks": 2}],
    ids=["both", "neither", "zero-months", "negative-days", "unknown-unit"],
)
def test_a_malformed_retention_window_is_422(
    client: TestClient, key_a: str, retention: dict[str, int]
) -> None:
    response = client.post("/resources", json=resource_body(retention=retention), headers=auth(key_a))
    assert_error(response, 422, "validation_error")
