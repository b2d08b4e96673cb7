"""Domain errors become HTTP in one table: status, code, message and details of each."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pymongo.errors import ServerSelectionTimeoutError

from functions.api.errors import install_error_handlers
from shared.common.errors import (
    BrokerError,
    BrokerUnavailableError,
    ConflictError,
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    OutboxPendingError,
    SecretUnavailableError,
)


def answer(error: Exception) -> tuple[int, dict[str, object]]:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fail")
    def fail() -> None:
        raise error

    response = TestClient(app, raise_server_exceptions=False).get("/fail")
    return response.status_code, response.json()["error"]


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFoundError("wrapper 'w' not found"), 404, "not_found"),
        (ConflictError("wrapper w is generating", status="generating"), 409, "conflict"),
        (InvalidRequestError("the page size is too large"), 422, "validation_error"),
        (ForbiddenError("not one of your uploads", fields={"body.source.url": "x"}), 403, "forbidden"),
        (BrokerUnavailableError("down"), 503, "broker_unavailable"),
        (BrokerError("nacked"), 503, "broker_error"),
        (OutboxPendingError("3 points waiting"), 503, "broker_error"),
        (SecretUnavailableError("cannot read secret rs/x"), 503, "configuration_unavailable"),
        (ServerSelectionTimeoutError("db.internal:27017 timed out"), 503, "database_unavailable"),
    ],
)
def test_each_domain_error_gets_its_status_and_code(error: Exception, status: int, code: str) -> None:
    status_code, body = answer(error)
    assert (status_code, body["code"]) == (status, code)


def test_the_invalid_fields_become_details_in_order() -> None:
    _, body = answer(InvalidRequestError("nulls", fields={"body.name": "may not be null", "body.unit": "no"}))
    assert body["details"] == [
        {"field": "body.name", "reason": "may not be null"},
        {"field": "body.unit", "reason": "no"},
    ]


def test_database_faults_do_not_show_the_driver_message() -> None:
    _, body = answer(ServerSelectionTimeoutError("db.internal:27017 timed out"))
    assert body["message"] == "the database is unavailable (ServerSelectionTimeoutError)"


def test_broker_faults_say_the_message_was_not_taken() -> None:
    _, body = answer(BrokerError("nacked"))
    assert body["message"] == "the message broker did not take the message: nacked"
