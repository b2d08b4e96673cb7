"""Clocks of a wrapper's points: what a timestamp without an offset means, settled once for every output.

Parse code reports each timestamp as its source wrote it: with an offset (`Z`, `+02:00`, an epoch) or as
a wall clock without one. Here, series by series:

- a series of dates (every stamp at midnight, a day or more apart) is a calendar series: dated on UTC
  midnight, as annual, monthly and daily periods always are;
- a daily series whose stamps all carry the same hour (a gas day that starts at 06:00) is dated by its
  date the same way: the hour says when the business day starts, not another period;
- other wall clocks are local times: with a zone (IANA) they get its offset, DST included (a wall time
  repeated when the clocks go back is the later one the second time); without one they stay wall
  clocks, never labelled UTC, and the verdict says the zone is unknown;
- stamps that carry an offset keep it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.common.errors import HintError
from shared.points.columns import NAIVE, NAIVE_EPOCH, PointColumns
from shared.points.point import Point, PointSequence

if TYPE_CHECKING:
    import numpy as np

_DAY = 86_400_000_000
_HOUR = 3_600_000_000
_SECOND = 1_000_000


@dataclass
class ClockVerdict:
    """What the timestamps' clock is: the zone (None when wall clocks have none) and what to warn of."""

    timezone: str | None
    warnings: list[str] = field(default_factory=list)
    wall_clocks: int = 0  # points left as wall clocks: no zone known


def zone_of(name: str) -> ZoneInfo:
    """The IANA zone called `name`, or a HintError saying it is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise HintError(
            f"timezone {name!r} is not an IANA zone name (e.g. Europe/Paris, America/New_York)"
        ) from exc


def settle_clocks(points: Sequence[Point], *, zone: str | None) -> tuple[Sequence[Point], ClockVerdict]:
    """The points with calendar and business-day series dated, wall clocks in `zone`, and the verdict."""
    import numpy as np

    where = zone_of(zone) if zone else None
    columns = (points if isinstance(points, PointSequence) else PointSequence.from_points(points)).columns
    if not len(columns):
        return points, ClockVerdict(timezone=zone or "UTC")
    codes = columns.series_codes()
    offsets = columns.offsets if columns.offsets is not None else np.zeros(len(columns), dtype=np.int32)
    naive = offsets == NAIVE
    # Every array here is as long as the output: the common large one (UTC, intraday) gets no copies.
    local = columns.timestamps
    if columns.offsets is not None:
        local = local + np.where(naive, 0, offsets).astype(np.int64) * _SECOND
    dated = _dated_series(local, codes)
    stamps, business = columns.timestamps, 0
    if dated.any():
        # A series of midnights in a stated offset (-05:00) is already dated; it keeps its offset.
        dated &= naive | (offsets == 0) | (local % _DAY != 0)
        stamps = np.where(dated, local - local % _DAY, columns.timestamps)
        offsets = np.where(dated, 0, offsets).astype(np.int32)
        business = int(np.count_nonzero(dated & (local % _DAY != 0)))
    monthly = _mid_month(stamps, codes, dated)
    if monthly.any():
        stamps = np.where(monthly, _month_start(stamps), stamps)
    walls = naive & ~dated
    warnings = []
    if business:
        warnings.append(
            f"{business} points of daily series carry the hour their day starts: dated by their date"
        )
    if monthly.any():
        count = int(np.count_nonzero(monthly))
        warnings.append(f"{count} points of monthly series dated on one day of their month: dated on its 1st")
    if walls.any() and where is not None:
        local_offsets, gaps = _localize(columns.timestamps[walls], codes[walls], where)
        offsets[walls] = local_offsets
        stamps[walls] = columns.timestamps[walls] - local_offsets.astype(np.int64) * _SECOND
        if gaps:
            warnings.append(f"{gaps} wall clock times do not exist in {zone} (the clocks went forward)")
    walls_left = int(np.count_nonzero(walls)) if where is None else 0
    if walls_left:
        warnings.append(
            f"{walls_left} timestamps are local clock times without a UTC offset and no timezone was given: "
            "they are printed as wall clock times (give an IANA timezone to place them)"
        )
    settled = PointSequence(
        PointColumns(
            stamps.astype(np.int64, copy=False),
            columns.values,
            series=columns.series,
            codes=columns.codes,
            offsets=None if not offsets.any() else offsets,
        )
    )
    return settled, ClockVerdict(
        timezone=None if walls_left else (zone if walls.any() else _named_offsets(offsets)),
        warnings=warnings,
        wall_clocks=walls_left,
    )


def _dated_series(local: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Which points belong to a series of dates: one time of day, a day or more apart (or a lone midnight)."""
    import numpy as np

    local_times = np.asarray(local)
    series = np.asarray(codes)
    dated = np.zeros(len(local_times), dtype=bool)
    # Only series whose points all share their first point's time of day can be dates: the others are
    # ruled out without sorting (intraday series, the common large output).
    hours = local_times % _DAY
    if not series.any():
        # One series (the common large output): no sort to find each series' first point.
        if (hours != hours[0]).any():
            return dated
        ruled_out, back = np.zeros(1, dtype=bool), series
    else:
        _, first, back = np.unique(series, return_index=True, return_inverse=True)
        ruled_out = np.zeros(len(first), dtype=bool)
        ruled_out[back[hours != hours[first][back]]] = True
        if ruled_out.all():
            return dated
    keep = np.flatnonzero(~ruled_out[back])
    local_times, series = local_times[keep], series[keep]
    order = np.lexsort((local_times, series))
    sorted_codes, sorted_stamps = series[order], local_times[order]
    bounds = np.flatnonzero(np.diff(sorted_codes)) + 1
    for part in np.split(np.arange(len(order)), bounds):
        stamps = np.unique(sorted_stamps[part])
        times = np.unique(stamps % _DAY)
        if len(times) != 1:
            continue
        steps = np.diff(stamps)
        if (len(stamps) > 1 and steps.min() >= _DAY) or (len(stamps) == 1 and times[0] == 0):
            dated[keep[order[part]]] = True
    return dated


def _month_start(stamps: np.ndarray) -> np.ndarray:
    """Microseconds of the first midnight of each stamp's month."""
    import numpy as np

    months = (stamps // _DAY).astype("datetime64[D]").astype("datetime64[M]")
    return months.astype("datetime64[D]").astype(np.int64) * _DAY


def _mid_month(stamps: np.ndarray, codes: np.ndarray, dated: np.ndarray) -> np.ndarray:
    """Which dated points belong to a monthly series stamped on one day of the month other than the 1st.

    Such a series (a point a month, mostly month after month, all on the 15th or all on the last day of
    their month) is a monthly series: its periods start on the 1st (three points at least, as evidence).
    """
    import numpy as np

    found = np.zeros(len(stamps), dtype=bool)
    if not dated.any():
        return found  # intraday output, the common large one: no calendar arithmetic on every stamp
    days = (stamps // _DAY).astype("datetime64[D]")
    months = days.astype("datetime64[M]")
    day_of_month = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    month_end = (months + 1).astype("datetime64[D]") - 1 == days
    for code in np.unique(codes[dated]).tolist():
        part = np.flatnonzero(dated & (codes == code))
        steps = np.diff(np.unique(months[part]).astype(np.int64))
        if len(part) < 3 or len(steps) != len(part) - 1 or np.median(steps) != 1:
            continue  # not a month each (an annual series on Dec 31 is no monthly one)
        same_day = len(np.unique(day_of_month[part])) == 1 and day_of_month[part[0]] != 1
        if same_day or bool(month_end[part].all()):
            found[part] = True
    return found


def _localize(walls: np.ndarray, codes: np.ndarray, zone: ZoneInfo) -> tuple[np.ndarray, int]:
    """UTC offsets (seconds) of wall clock microseconds in `zone`, and how many fall in a DST gap.

    Offsets are looked up once per hour of wall time. A wall time the zone has twice (the clocks go back)
    is the earlier instant until the series' wall clock steps back into it, then the later one.
    """
    import numpy as np

    walls = np.asarray(walls)
    series = np.asarray(codes)
    hours, back = np.unique(walls // _HOUR, return_inverse=True)
    first = np.empty(len(hours), dtype=np.int32)
    second = np.empty(len(hours), dtype=np.int32)
    for at, hour in enumerate(hours.tolist()):
        moment = NAIVE_EPOCH + timedelta(hours=hour)
        first[at] = _seconds(moment.replace(tzinfo=zone))
        second[at] = _seconds(moment.replace(tzinfo=zone, fold=1))
    offsets = first[back]
    ambiguous = np.flatnonzero((first > second)[back])
    latest: dict[int, int] = {}
    for at in ambiguous.tolist():
        code, wall = int(series[at]), int(walls[at])
        if code in latest and wall <= latest[code]:
            offsets[at] = second[back[at]]
        latest[code] = max(wall, latest.get(code, wall))
    gaps = int(np.count_nonzero((first < second)[back]))
    return offsets, gaps


def _seconds(moment: datetime) -> int:
    offset = moment.utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _named_offsets(offsets: np.ndarray) -> str:
    """`UTC`, or the offsets the source stated (`+01:00, +02:00`)."""
    import numpy as np

    found = sorted(set(np.asarray(offsets).tolist()))
    if found == [0]:
        return "UTC"
    return ", ".join(_offset_text(offset) for offset in found)


def _offset_text(offset: int) -> str:
    sign = "-" if offset < 0 else "+"
    minutes = abs(offset) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
