"""`--plot`: what is drawn, in what order, with which labels, colours and title (read from the figure)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

import matplotlib.pyplot as plt
from matplotlib.colors import to_rgba

from shared.cli.plot import MAX_LINES, draw_series, plot_points, series_label
from shared.domain.wrapper import IndicatorRequest
from shared.generate.heuristic import rank_series
from shared.points.columns import series_key
from shared.points.point import Point


def regions(sizes: dict[str, int]) -> list[Point]:
    """One series per region (an empty country code, as wide files have for aggregates), `size` years each."""
    return [
        Point(
            timestamp=datetime(2000 + year, 1, 1, tzinfo=UTC),
            value=float(year),
            dimensions={"country_code": "", "region": region},
        )
        for region, size in sizes.items()
        for year in range(size)
    ]


@pytest.fixture
def figures() -> Iterator[list[Any]]:
    """Figures drawn by a test, closed afterwards."""
    drawn: list[Any] = []
    yield drawn
    for figure in drawn:
        plt.close(figure)


def lines_of(figure: Any) -> list[Any]:
    return list(figure.axes[0].get_lines())


def test_without_a_match_the_series_with_the_most_points_are_drawn_largest_first(figures: list[Any]) -> None:
    sizes = {f"Region {n:02d}": 5 for n in range(20)} | {"Small": 2, "Big": 40, "Bigger": 41}
    figure = draw_series(regions(sizes), title="Emissions", unit="Mt", order=[])
    figures.append(figure)
    labels = [line.get_label() for line in lines_of(figure)]
    assert labels[:2] == ["Bigger", "Big"]
    assert len(labels) == MAX_LINES
    assert "Small" not in labels
    assert figure.axes[0].get_title() == f"Emissions ({MAX_LINES} of 23 series, with the most points)"


def test_series_matching_the_request_are_drawn_alone_and_the_title_counts_them(figures: list[Any]) -> None:
    points = regions({"Africa": 10, "Europe": 30, "Asia": 30})
    request = IndicatorRequest(name="CO2 emissions, Africa")
    matching = [key for key, fit in rank_series(points, request) if fit > 0]
    figure = draw_series(points, title="CO2 emissions, Africa", unit="Mt", order=matching)
    figures.append(figure)
    assert [line.get_label() for line in lines_of(figure)] == ["Africa"]
    assert figure.axes[0].get_title() == "CO2 emissions, Africa (1 of 3 series, best matching the request)"
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["Africa"]


def test_labels_leave_out_empty_dimension_values() -> None:
    assert series_label((("country_code", ""), ("region", "Africa")), "fallback") == "Africa"
    assert series_label((("country_code", " "),), "Emissions") == "Emissions"
    assert series_label((("a", "x" * 100),), "t").endswith("…")


def test_no_colour_repeats_among_twelve_lines_and_no_line_is_bolder(figures: list[Any]) -> None:
    figure = draw_series(regions({f"R{n}": 3 + n for n in range(15)}), title="T", unit="t")
    figures.append(figure)
    lines = lines_of(figure)
    assert len(lines) == MAX_LINES
    assert len({to_rgba(line.get_color()) for line in lines}) == MAX_LINES
    assert len({line.get_linewidth() for line in lines}) == 1


def test_few_lines_use_the_ten_colour_palette_without_repeats(figures: list[Any]) -> None:
    figure = draw_series(regions({f"R{n}": 3 for n in range(4)}), title="T")
    figures.append(figure)
    colours = [to_rgba(line.get_color()) for line in lines_of(figure)]
    assert colours == [to_rgba(f"C{n}") for n in range(4)]


def test_unit_on_the_y_axis_and_a_title_without_count_when_everything_is_drawn(figures: list[Any]) -> None:
    one = draw_series(regions({"Africa": 3}), title="CO2", unit="ppm")
    three = draw_series(regions({"A": 3, "B": 3, "C": 3}), title="CO2", unit="")
    figures.extend([one, three])
    assert one.axes[0].get_ylabel() == "ppm"
    assert one.axes[0].get_title() == "CO2"
    assert one.axes[0].get_legend() is None
    assert three.axes[0].get_title() == "CO2 (3 series)"
    assert three.axes[0].get_ylabel() == "value"


def test_lines_are_in_time_order_and_a_short_series_shows_its_points(figures: list[Any]) -> None:
    points = list(reversed(regions({"Only": 3})))
    figure = draw_series(points, title="T")
    figures.append(figure)
    (line,) = lines_of(figure)
    assert list(line.get_ydata()) == [0.0, 1.0, 2.0]
    assert line.get_marker() == "o"


def test_order_names_only_series_that_exist(figures: list[Any]) -> None:
    points = regions({"A": 3, "B": 5})
    ghost = series_key({"region": "Nowhere"})
    figure = draw_series(points, title="T", order=[ghost])
    figures.append(figure)
    assert [line.get_label() for line in lines_of(figure)] == ["B", "A"]
    assert figure.axes[0].get_title() == "T (2 series)"


def test_plot_points_writes_a_png_and_returns_the_lines_drawn(tmp_path: Path) -> None:
    path = tmp_path / "plot.png"
    drawn = plot_points(regions({f"R{n}": 2 for n in range(14)}), path, title="T", unit="t")
    assert drawn == MAX_LINES
    assert path.read_bytes().startswith(b"\x89PNG")
