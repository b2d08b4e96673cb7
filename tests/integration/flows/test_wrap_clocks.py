"""Clocks and encodings through the whole local wrap: generator, sandbox, validation, settled points."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shared.common.errors import HintError
from shared.common.settings import Settings
from shared.domain.wrapper import IndicatorRequest, LayoutHints, WrapperDraft
from shared.flows.wrap import WrapResult, wrap_source
from shared.points.point import format_timestamp
from shared.source.read import read_source
from shared.validate.validation import validate_wrapper

SETTINGS = Settings()
HOURLY = (
    "Time Stamp,Zone,Load\n"
    "10/31/2021 01:00,North,10\n"
    "10/31/2021 02:00,North,11\n"
    "10/31/2021 02:00,North,12\n"
    "10/31/2021 03:00,North,13\n"
)
PLAIN_HOURS = (
    "Time Stamp,Zone,Load\n11/22/2017 01:00,North,10\n11/22/2017 02:00,North,11\n11/22/2017 03:00,North,13\n"
)
GAS_DAYS = "Gas day start,Demand\n2021-10-01 06:00,300\n2021-10-02 06:00,310\n2021-10-03 06:00,320\n"


def wrap(tmp_path: Path, content: bytes, request: str, *, zone: str | None = None) -> WrapResult:
    path = tmp_path / "source.csv"
    path.write_bytes(content)
    source = read_source(str(path), settings=SETTINGS)
    indicator = IndicatorRequest(name=request, hints=LayoutHints(timezone=zone))
    return wrap_source(source, indicator, generator="heuristic", settings=SETTINGS)


def test_local_clock_times_without_a_zone_stay_wall_clocks_and_the_zone_is_unknown(tmp_path: Path) -> None:
    result = wrap(tmp_path, PLAIN_HOURS.encode(), "Load")
    assert [format_timestamp(p.timestamp) for p in result.points][:2] == [
        "2017-11-22T01:00:00",
        "2017-11-22T02:00:00",
    ]
    assert result.draft.inference is not None and result.draft.inference.timezone is None
    assert any("no timezone was given" in warning for warning in result.draft.inference.warnings)


def test_a_timezone_hint_gives_wall_clocks_their_offset_across_the_dst_change(tmp_path: Path) -> None:
    result = wrap(tmp_path, HOURLY.encode(), "Load", zone="Europe/Berlin")
    assert [p.timestamp.utcoffset() for p in result.points] == [timedelta(hours=h) for h in (2, 2, 1, 1)]
    assert result.draft.inference is not None and result.draft.inference.timezone == "Europe/Berlin"
    assert result.report.ok


def test_a_timezone_that_is_no_iana_zone_is_refused(tmp_path: Path) -> None:
    """The hint refuses it (ValueError); a request that got one past the hint, validation refuses."""
    with pytest.raises(ValueError, match="IANA"):
        wrap(tmp_path, HOURLY.encode(), "Load", zone="Central European Time")
    forged = IndicatorRequest(name="Load", hints=LayoutHints.model_construct(timezone="Mars/Olympus"))
    result = wrap(tmp_path, PLAIN_HOURS.encode(), "Load")
    with pytest.raises(HintError, match="IANA"):
        validate_wrapper(result.draft, [PLAIN_HOURS.encode()], request=forged, settings=SETTINGS)


def test_a_gas_day_series_is_dated_by_its_date(tmp_path: Path) -> None:
    result = wrap(tmp_path, GAS_DAYS.encode(), "Demand")
    assert [format_timestamp(p.timestamp) for p in result.points] == [
        "2021-10-01T00:00:00Z",
        "2021-10-02T00:00:00Z",
        "2021-10-03T00:00:00Z",
    ]
    assert result.draft.inference is not None and result.draft.inference.timezone == "UTC"


def test_a_central_european_code_page_reaches_the_dimensions_intact(tmp_path: Path) -> None:
    text = "Rok;Województwo;Wartość\n2020;Łódzkie;1,5\n2021;Łódzkie;2,5\n2020;Śląskie;3,0\n2021;Śląskie;4,0\n"
    result = wrap(tmp_path, text.encode("cp1250"), "Wartość")
    assert {p.dimensions.get("Województwo") for p in result.points} == {"Łódzkie", "Śląskie"}
    assert result.draft.fetch_spec.encoding == "cp1250"


def test_the_service_refuses_wall_clocks_it_cannot_place(tmp_path: Path) -> None:
    """The service stores UTC instants: wall clocks without a zone fail validation there, with the fix."""
    result = wrap(tmp_path, PLAIN_HOURS.encode(), "Load")
    draft = WrapperDraft.model_validate(result.draft.model_dump())
    report, points = validate_wrapper(
        draft, [PLAIN_HOURS.encode()], request=IndicatorRequest(name="Load"), settings=SETTINGS, instants=True
    )
    assert not report.ok and points == []
    assert (
        report.errors[0].code == "unknown_timezone" and "source.options.timezone" in report.errors[0].message
    )
    zoned = IndicatorRequest(name="Load", hints=LayoutHints(timezone="America/New_York"))
    report, _ = validate_wrapper(
        draft, [PLAIN_HOURS.encode()], request=zoned, settings=SETTINGS, instants=True
    )
    assert report.ok and report.timezone == "America/New_York"
