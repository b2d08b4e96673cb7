"""The console in a real browser (Debian's Chromium) against the real API, queues, workers and job."""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import re
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from playwright.sync_api import expect
from pymongo.database import Database

from shared.common.settings import Settings
from shared.points.point import Point
from shared.store.api_keys import ApiKeyRepository
from shared.store.point_store import point_documents
from shared.store.wrappers import WrapperRepository
from tests.integration.api.console.conftest import Traffic, artifacts_dir, running_workers
from tests.integration.api.support import CREATION, Queues, use_env
from tests.support import serve_files

YEARS = range(1990, 2020)
ROWS = [f"{y},{c},{base + (y - 1990) * 0.25:.2f}" for y in YEARS for c, base in (("CH", 4.5), ("DE", 9.1))]
CSV = ("Year,Country,Total\n" + "\n".join(ROWS) + "\n").encode()
READY_OR_LATER = re.compile(r"^(ready|running|completed)$")


def sign_in(page: Any, api_url: str, key: str) -> None:
    page.goto(f"{api_url}/console")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Indicators")).to_be_visible()


def unlabelled_controls(page: Any) -> list[str]:
    """Inputs, selects and textareas of the page that have neither a label nor an aria-label."""
    return list(
        page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea')]
                .filter((e) => e.labels.length === 0 && !e.getAttribute('aria-label'))
                .map((e) => e.outerHTML)"""
        )
    )


def tab_to(page: Any, name: str, *, limit: int = 80) -> dict[str, Any]:
    """Press Tab from the top of the page until the control called `name` has the focus; its focus style."""
    page.locator("body").focus()
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement; const s = getComputedStyle(e);
                return {text: (e.textContent || '').trim(), outline: s.outlineStyle,
                        width: parseFloat(s.outlineWidth)}; }"""
        )
        if focused["text"] == name:
            return dict(focused)
    raise AssertionError(f"{name!r} was not reached with Tab")


def test_sign_in_create_from_a_csv_url_watch_it_become_ready_chart_and_run_now(
    api_url: str, workers: None, page: Any, traffic: Traffic, db: Database
) -> None:
    key = ApiKeyRepository(db).create("acme", name="console")[1]
    with serve_files({"/emissions.csv": CSV}) as source:
        sign_in(page, api_url, key)
        assert unlabelled_controls(page) == []
        page.get_by_role("link", name="New indicator").click()
        form = page.locator("#create-form")
        form.get_by_label("Name", exact=True).fill("Total emissions by country")
        form.get_by_label("Unit", exact=True).fill("Mt")
        form.get_by_label("Source type").select_option("csv")
        form.get_by_label("URL", exact=True).fill(f"{source}/emissions.csv")
        assert unlabelled_controls(page) == []
        form.get_by_role("button", name="Create").click()

        status = page.locator("#ind-status")
        expect(status).to_have_attribute("data-status", READY_OR_LATER)
        chart = page.locator("#chart")
        expect(chart).to_have_attribute("data-points", str(len(YEARS) * 2))
        expect(chart).to_have_attribute("data-series", "2")
        expect(page.locator("#chart canvas")).to_have_count(1)
        expect(page.locator("#availability")).to_contain_text(f"{len(YEARS) * 2} points")
        expect(page.locator("#w-generator")).to_have_text("heuristic")
        expect(page.locator("#parse-code")).to_have_value(re.compile("def parse"))
        expect(page.locator("#w-validation")).to_contain_text("passed")

        page.get_by_label(re.compile(r"^Country=DE")).uncheck()
        expect(chart).to_have_attribute("data-points", str(len(YEARS)))
        expect(chart).to_have_attribute("data-series", "1")
        page.get_by_label(re.compile(r"^Country=DE")).check()
        expect(chart).to_have_attribute("data-points", str(len(YEARS) * 2))

        full_range = chart.get_attribute("data-x-range")
        area = page.locator("#chart .u-over").bounding_box()
        assert area is not None and full_range
        page.mouse.move(area["x"] + area["width"] * 0.2, area["y"] + area["height"] / 2)
        page.mouse.down()
        page.mouse.move(area["x"] + area["width"] * 0.5, area["y"] + area["height"] / 2, steps=5)
        page.mouse.up()
        expect(chart).not_to_have_attribute("data-x-range", full_range)
        page.get_by_role("button", name="Reset zoom").click()
        expect(chart).to_have_attribute("data-x-range", full_range)

        runs = page.locator("#runs")
        expect(runs).to_have_attribute("data-runs", "1")
        focus = tab_to(page, "Run now")
        assert focus["outline"] != "none" and focus["width"] > 0, focus
        page.keyboard.press("Enter")
        expect(page.locator("#notice")).to_contain_text("Run requested")
        expect(runs).to_have_attribute("data-runs", "2")
        newest = runs.locator("tbody tr").first
        expect(newest.locator("td").nth(2)).to_have_text("succeeded")
        expect(newest.locator("td").nth(4)).to_have_text(str(len(YEARS) * 2))
        assert unlabelled_controls(page) == []

        page.screenshot(path=str(artifacts_dir() / "console-indicator.png"), full_page=True)
        page.get_by_role("link", name="Indicators").click()
        row = page.locator("#indicators tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("Total emissions by country")
        expect(row).to_contain_text(f"{len(YEARS) * 2}")
        expect(row).to_contain_text("2019-01-01")

    assert traffic.origins() == {api_url}, traffic.origins()
    assert traffic.problems == []


def test_a_wrong_key_is_refused_and_nothing_is_kept(api_url: str, page: Any, traffic: Traffic) -> None:
    page.goto(f"{api_url}/console")
    page.get_by_label("API key").fill("rs_not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("This API key is not valid.")
    assert page.evaluate("() => sessionStorage.length") == 0
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    assert traffic.origins() == {api_url}


def test_swagger_ui_loads_from_the_service_alone(api_url: str, page: Any, traffic: Traffic) -> None:
    page.goto(f"{api_url}/docs")
    expect(page.get_by_text("Resource Service API").first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    assert traffic.origins() == {api_url}, traffic.origins()
    assert traffic.problems == []


def test_time_to_first_chart_of_a_40k_point_series_and_page_weight(
    api_url: str, page: Any, traffic: Traffic, db: Database, queues: Queues
) -> None:
    key = ApiKeyRepository(db).create("acme", name="console")[1]
    with serve_files({}) as source:  # never fetched: the generation message is taken off the queue
        resource = _create(page, api_url, key, url=f"{source}/hourly.csv")
    queues.of(CREATION, wrapper_id=resource["wrapper_id"])
    WrapperRepository(db).update_fields(resource["wrapper_id"], {"status": "completed"})
    start = datetime(2020, 1, 1, tzinfo=UTC)
    points = [Point(timestamp=start + timedelta(hours=h), value=float(h % 97)) for h in range(40_000)]
    db["points"].insert_many(point_documents(resource["id"], points))

    finished: list[Any] = []
    page.on("requestfinished", lambda request: finished.append(request))
    page.goto(f"{api_url}/console#/indicators/{resource['id']}")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-points", "40000", timeout=180_000)
    first_chart_ms = float(chart.get_attribute("data-first-chart-ms") or "nan")
    full_chart_ms = float(chart.get_attribute("data-full-chart-ms") or "nan")
    draw_ms = float(chart.get_attribute("data-draw-ms") or "nan")
    sizes = [_sizes(request) for request in finished]
    assets = [s for s in sizes if "/console" in s[0]]
    figures = {
        "points": 40_000,
        "time_to_first_chart_ms": round(first_chart_ms, 1),
        "time_to_full_chart_ms": round(full_chart_ms, 1),
        "grouping_and_drawing_40k_ms": round(draw_ms, 1),
        "page_weight_kb_transferred": round(sum(s[1] for s in assets) / 1024, 1),
        "page_weight_kb_decoded": round(sum(s[2] for s in assets) / 1024, 1),
        "points_json_kb_transferred": round(sum(s[1] for s in sizes if "/points" in s[0]) / 1024, 1),
        "assets": [s[0].split("?")[0].removeprefix(api_url) for s in assets],
        "points_requests_ms": [
            round(r.timing["responseEnd"] - r.timing["requestStart"], 1)
            for r in finished
            if "/points" in r.url
        ],
    }
    (artifacts_dir() / "console-figures.json").write_text(json.dumps(figures, indent=2))
    print(json.dumps(figures))
    page.screenshot(path=str(artifacts_dir() / "console-40k.png"), full_page=False)
    assert 0 < first_chart_ms <= full_chart_ms
    assert traffic.origins() == {api_url}


def _create(page: Any, api_url: str, key: str, *, url: str, name: str = "Hourly load") -> dict[str, Any]:
    response = page.request.post(
        f"{api_url}/resources",
        headers={"Authorization": f"Bearer {key}"},
        data={"name": name, "unit": "MW", "source": {"type": "csv", "url": url}},
    )
    assert response.status == 201, response.text()
    page.goto(f"{api_url}/console")
    page.evaluate("(key) => sessionStorage.setItem('rs-console-key', key)", key)
    page.goto("about:blank")  # the indicator page then loads as a new document, as after a bookmark
    return dict(response.json())


def _sizes(request: Any) -> tuple[str, int, int]:
    response = request.response()
    if response is None or response.status != 200:
        return request.url, 0, 0
    return request.url, int(response.header_value("content-length") or 0), len(response.body())


def test_refused_actions_say_why_and_the_list_filters_by_state_and_name(
    api_url: str, page: Any, traffic: Traffic, db: Database
) -> None:
    key = ApiKeyRepository(db).create("acme", name="console")[1]
    with serve_files({}) as source:  # never fetched: no worker runs in this test
        ready = _create(page, api_url, key, url=f"{source}/a.csv", name="Solar output")
        broken = _create(page, api_url, key, url=f"{source}/b.csv", name="Wind output")
    WrapperRepository(db).update_fields(
        ready["wrapper_id"],
        {"status": "ready", "generated_code": "def parse(data, context):\n    return []\n"},
    )
    WrapperRepository(db).update_fields(
        broken["wrapper_id"], {"status": "failed", "status_reason": "no series"}
    )

    page.goto(f"{api_url}/console#/indicators/{ready['id']}")
    expect(page.locator("#ind-status")).to_have_attribute("data-status", "ready")
    page.get_by_role("button", name="Stop").click()
    expect(page.locator("#ind-status")).to_have_attribute("data-status", "stopped")
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("alert")).to_contain_text("stopped")
    page.get_by_role("button", name="Start").click()
    expect(page.locator("#ind-status")).to_have_attribute("data-status", "running")
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_label("Backfill from").fill("2999-01-01")
    page.get_by_role("button", name="Backfill").click()
    expect(page.get_by_role("alert")).to_contain_text("future")
    page.get_by_label("Backfill from").fill("2020-01-01")
    page.get_by_role("button", name="Backfill").click()
    expect(page.locator("#notice")).to_contain_text("Backfill from 2020-01-01 requested")
    expect(page.get_by_role("alert")).to_have_count(0)
    page.get_by_role("button", name="Regenerate").click()
    expect(page.locator("#ind-status")).to_have_attribute("data-status", "pending")
    expect(page.locator("#notice")).to_contain_text("Regeneration queued")

    page.get_by_role("link", name="Indicators").click()
    rows = page.locator("#indicators tbody tr")
    expect(rows).to_have_count(2)
    page.get_by_label("Wrapper status").select_option("failing")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Wind output")
    expect(rows).to_contain_text("failing")
    page.get_by_label("Wrapper status").select_option("")
    page.get_by_label("Search by name").fill("solar")
    page.get_by_role("button", name="Apply").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text("Solar output")
    assert unlabelled_controls(page) == []
    assert traffic.origins() == {api_url}


class _UploadEndpoint(http.server.BaseHTTPRequestHandler):
    """The S3 endpoint of a presigned POST: keeps each form it receives and answers 204 to the console."""

    forms: ClassVar[list[dict[str, bytes]]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        message = email.message_from_bytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + self.rfile.read(length),
            policy=email.policy.HTTP,
        )
        form = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            form[str(name)] = part.get_payload(decode=True)
        self.forms.append(form)
        self.send_response(204)
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_an_uploaded_file_goes_to_the_presigned_endpoint_and_becomes_the_source(
    console_env: Settings,
    api_url: str,
    page: Any,
    traffic: Traffic,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _UploadEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    use_env(monkeypatch, upload_bucket="uploads", s3_endpoint_url=endpoint)
    key = ApiKeyRepository(db).create("acme", name="console")[1]
    (tmp_path / "emissions.csv").write_bytes(CSV)
    try:
        sign_in(page, api_url, key)
        page.get_by_role("link", name="New indicator").click()
        form = page.locator("#create-form")
        form.get_by_label("Name", exact=True).fill("Uploaded emissions")
        form.get_by_label("Upload a file").check()
        form.get_by_label("CSV or XLSX file").set_input_files(str(tmp_path / "emissions.csv"))
        form.get_by_role("button", name="Create").click()
        expect(page.locator("#ind-status")).to_have_attribute("data-status", "pending")
    finally:
        server.shutdown()
    (received,) = _UploadEndpoint.forms
    assert received["file"] == CSV and received["Content-Type"] == b"text/csv"
    upload_key = received["key"].decode()
    assert upload_key.startswith("uploads/acme/") and upload_key.endswith("/emissions.csv")
    (resource,) = db["resources"].find({"name": "Uploaded emissions"})
    assert resource["source"]["url"] == f"s3://uploads/{upload_key}"
    assert traffic.origins() == {api_url, endpoint}


def test_replacing_code_and_picking_an_alternative_reading_go_through_the_api(
    api_url: str, page: Any, traffic: Traffic, db: Database
) -> None:
    key = ApiKeyRepository(db).create("acme", name="console")[1]
    with serve_files({}) as source:  # never fetched: no worker runs in this test
        resource = _create(page, api_url, key, url=f"{source}/a.csv", name="Emissions")
    wrappers = WrapperRepository(db)
    ready = {
        "status": "ready",
        "generator": "heuristic",
        "rationale": "value column 'Total' matches the request best",
        "generated_code": "def parse(data, context):\n    return []\n",
        "fetch_spec": {"location": f"{source}/a.csv", "format": "csv"},
        "inference": {
            "confidence": 0.53,
            "chosen": "value column 'Total'",
            "alternatives": [
                {
                    "label": "value column 'Per Capita'",
                    "score": 1.0,
                    "reason": "close",
                    "hint": {"value_column": "Per Capita"},
                }
            ],
            "warnings": ["the clock times carry no zone"],
        },
    }
    wrappers.update_fields(resource["wrapper_id"], ready)
    page.goto(f"{api_url}/console#/indicators/{resource['id']}")
    expect(page.locator("#w-confidence")).to_have_text("0.53 (unsure: check the alternatives)")
    expect(page.locator("#w-warnings")).to_contain_text("the clock times carry no zone")

    page.get_by_label("Fetch spec (JSON)").fill("{not json")
    page.get_by_role("button", name="Send for validation").click()
    expect(page.locator("#fetch-spec-error")).to_contain_text("not valid JSON")

    page.get_by_label("Parse code (Python)").fill("def parse(data, context):\n    return [1]\n")
    page.get_by_role("button", name="Replace code").click()
    expect(page.locator("#ind-status")).to_have_attribute("data-status", re.compile("^(pending|validating)$"))
    assert (
        wrappers.get(resource["wrapper_id"]).generated_code == "def parse(data, context):\n    return [1]\n"
    )

    wrappers.update_fields(resource["wrapper_id"], {"status": "validating", "inference": ready["inference"]})
    page.get_by_role("button", name="Use value column 'Per Capita'").click()
    expect(page.locator("#wrapper-error")).to_contain_text("validating")
    wrappers.update_fields(resource["wrapper_id"], ready)
    expect(page.locator("#ind-status")).to_have_attribute("data-status", "ready")
    page.get_by_role("button", name="Use value column 'Per Capita'").click()
    expect(page.locator("#ind-status")).to_have_attribute("data-status", "pending")
    stored = db["resources"].find_one({"name": "Emissions"})
    assert stored is not None and stored["source"]["options"] == {"value_column": "Per Capita"}
    assert traffic.origins() == {api_url}


SENT = "Sent: it replaces the current spec once it validates on a fresh sample."


def edit_spec(page: Any, *, by_keyboard: bool = False, **changes: Any) -> None:
    """Put the current spec, with `changes`, in the editor and send it (with Tab and Enter if asked)."""
    spec = json.loads(page.get_by_label("Fetch spec (JSON)").input_value())
    page.get_by_label("Fetch spec (JSON)").fill(json.dumps({**spec, **changes}, indent=2))
    if by_keyboard:
        focus = tab_to(page, "Send for validation")
        assert focus["outline"] != "none" and focus["width"] > 0, focus
        page.keyboard.press("Enter")
    else:
        page.get_by_role("button", name="Send for validation").click()


def test_an_edited_fetch_spec_is_validated_on_a_fresh_sample_before_the_page_shows_it_as_current(
    console_env: Settings, api_url: str, page: Any, traffic: Traffic, db: Database
) -> None:
    key = ApiKeyRepository(db).create("acme", name="console")[1]
    with serve_files({"/emissions.csv": CSV, "/mirror/emissions.csv": CSV}) as source:
        original, mirror, missing = (
            f"{source}/emissions.csv",
            f"{source}/mirror/emissions.csv",
            f"{source}/gone.csv",
        )
        resource = _create(page, api_url, key, url=original, name="Emissions")
        page.goto(f"{api_url}/console#/indicators/{resource['id']}")
        current = page.locator("#fetch-spec-current")
        outcome = page.locator("#fetch-spec-status")
        proposed = page.locator("#fetch-spec-proposed-box")
        runs = page.locator("#runs")
        with running_workers(console_env):
            expect(current).to_contain_text(original)
            expect(runs).to_have_attribute("data-runs", "1")
            expect(runs.locator("tbody tr").first.locator("td").nth(2)).to_have_text("succeeded")
        expect(page.get_by_label("Fetch spec (JSON)")).to_have_value(re.compile(re.escape(original)))
        expect(proposed).to_be_hidden()

        # Nothing validates while the workers are stopped: the page shows the spec sent as a proposal.
        edit_spec(page, location=mirror)
        expect(page.locator("#notice")).to_have_text(SENT)
        expect(outcome).to_have_attribute("data-state", "validating")
        expect(outcome).to_contain_text(SENT)
        expect(page.locator("#ind-status")).to_have_attribute("data-status", "validating")
        expect(proposed).to_be_visible()
        expect(page.locator("#fetch-spec-proposed")).to_contain_text(mirror)
        expect(current).to_contain_text(original)
        expect(current).not_to_contain_text(mirror)

        with running_workers(console_env):
            expect(outcome).to_have_attribute("data-state", "validated")
            expect(outcome).to_contain_text("it is the current spec now")
            expect(current).to_contain_text(mirror)
            expect(proposed).to_be_hidden()
            expect(page.get_by_label("Fetch spec (JSON)")).to_have_value(re.compile(re.escape(mirror)))
            expect(page.locator("#ind-status")).to_have_attribute("data-status", READY_OR_LATER)
            page.screenshot(path=str(artifacts_dir() / "console-fetch-spec-validated.png"), full_page=True)
            expect(runs).to_have_attribute("data-runs", "2")
            expect(runs.locator("tbody tr").first.locator("td").nth(2)).to_have_text("succeeded")

            # A spec that passes the checks but cannot be read is refused by validation; the old one stays.
            edit_spec(page, location=missing)
            expect(outcome).to_have_attribute("data-state", "refused")
            expect(outcome).to_contain_text("the previous one is kept")
            expect(outcome).to_contain_text("404")
            expect(page.locator("#ind-status")).to_have_attribute("data-status", READY_OR_LATER)
            expect(current).to_contain_text(mirror)
            expect(proposed).to_be_hidden()
            expect(page.get_by_label("Fetch spec (JSON)")).to_have_value(re.compile(re.escape(missing)))

    stored = page.request.get(
        f"{api_url}/wrappers/{resource['wrapper_id']}/fetch-spec", headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert stored["location"] == mirror and stored["proposed"] is None
    assert traffic.origins() == {api_url}
    assert traffic.problems == []


def test_an_unsafe_fetch_spec_is_refused_with_the_apis_reason_next_to_the_editor_and_the_old_one_kept(
    api_url: str, page: Any, traffic: Traffic, db: Database
) -> None:
    key = ApiKeyRepository(db).create("acme", name="console")[1]
    with serve_files({}) as source:  # never fetched: nothing is validated in this test
        resource = _create(page, api_url, key, url=f"{source}/a.csv", name="Emissions")
    wrappers = WrapperRepository(db)
    old = {"location": f"{source}/a.csv", "format": "csv"}
    wrappers.update_fields(
        resource["wrapper_id"],
        {
            "status": "ready",
            "generated_code": "def parse(data, context):\n    return []\n",
            "fetch_spec": old,
        },
    )
    page.goto(f"{api_url}/console#/indicators/{resource['id']}")
    editor = page.get_by_label("Fetch spec (JSON)")
    error = page.locator("#fetch-spec-error")
    current = page.locator("#fetch-spec-current")
    expect(current).to_contain_text(old["location"])

    edit_spec(page, by_keyboard=True, location="http://10.0.0.1/a.csv")
    expect(error).to_be_visible()
    expect(error).to_contain_text("body.location")
    expect(error).to_contain_text("10.0.0.1")
    expect(editor).to_have_attribute("aria-invalid", "true")
    expect(editor).to_be_focused()
    expect(editor).to_have_value(re.compile("10.0.0.1"))
    expect(current).to_contain_text(old["location"])
    expect(page.locator("#fetch-spec-status")).to_be_hidden()
    expect(page.locator("#ind-status")).to_have_attribute("data-status", "ready")
    assert unlabelled_controls(page) == []
    page.screenshot(path=str(artifacts_dir() / "console-fetch-spec-refused.png"), full_page=True)

    literal = "a8f3k2m9q7w4e6r1t5y0u2i8"
    edit_spec(page, location=old["location"], header_secrets={"X-Api-Key": literal})
    expect(error).to_contain_text("never its value")
    expect(error).not_to_contain_text(literal)
    expect(current).to_contain_text(old["location"])

    page.get_by_role("button", name="Reset to current").click()
    expect(error).to_be_hidden()
    expect(editor).not_to_have_attribute("aria-invalid", "true")
    shown = json.loads(editor.input_value())
    assert shown["location"] == old["location"]
    assert shown == _editable_spec(page, api_url, key, resource["wrapper_id"])
    stored = wrappers.get(resource["wrapper_id"])
    assert stored.fetch_spec == old and stored.fetch_spec_proposal is None and stored.status == "ready"
    assert traffic.origins() == {api_url}


def _editable_spec(page: Any, api_url: str, key: str, wrapper_id: str) -> dict[str, Any]:
    """GET /wrappers/{id}/fetch-spec as the editor shows it: without `method` and `proposed`."""
    spec = page.request.get(
        f"{api_url}/wrappers/{wrapper_id}/fetch-spec", headers={"Authorization": f"Bearer {key}"}
    ).json()
    return {k: v for k, v in spec.items() if k not in ("method", "proposed")}
