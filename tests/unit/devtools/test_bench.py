"""Smoke test of the benchmarks on tiny sizes: the figures run and results.json has its shape; no timings."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import pytest

from devtools import bench

TINY = bench.Sizes(
    csv_rows=1_000,
    xlsx_rows=1_000,
    job_points=1_000,
    memory_rows=(1_000, 2_000, 4_000),
    publish_points=2_000,
    store_points=1_000,
    api_calls=5,
    cold_imports=1,
    repeat=1,
)
FIGURE_KEYS = {"figure", "ours", "baseline", "ratio", "target", "met", "unit", "detail"}


def check_figure(figure: dict[str, object]) -> None:
    assert set(figure) >= FIGURE_KEYS
    assert isinstance(figure["figure"], str) and figure["figure"]
    assert isinstance(figure["target"], str) and figure["target"]
    assert isinstance(figure["met"], bool)
    for key in ("ours", "baseline", "ratio"):
        assert figure[key] is None or isinstance(figure[key], int | float)


def test_figures_without_services_run_on_tiny_data_and_write_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    if bench.CORPUS.is_dir():  # one small corpus file is enough to exercise the Generation figure
        for name in ("co2_mm_mlo.csv", "co2_mm_mlo.expected.json"):
            shutil.copy(bench.CORPUS / name, corpus / name)
    monkeypatch.setattr(bench, "CORPUS", corpus)
    out = tmp_path / "results.json"
    args = bench.build_args(
        ["--only", "csv", "wrap-command", "xlsx", "memory", "generation", "--out", str(out)]
    )
    assert bench.run_bench(args, sizes=TINY) == 0
    results = json.loads(out.read_text())
    assert {"generated_at", "command", "machine", "notes", "figures", "sizes"} <= set(results)
    assert results["machine"]["cpus"] >= 1
    names = [figure["figure"] for figure in results["figures"]]
    assert names[:3] == ["CSV extraction", "Wrap command", "XLSX extraction"]
    assert "Memory" in names
    (growth,) = [figure for figure in results["figures"] if figure["figure"] == "Memory growth"]
    assert [point["rows"] for point in growth["curve"]] == [1_000, 2_000, 4_000]
    assert all(point["child_peak_mib"] > 0 for point in growth["curve"])
    assert "Generation: co2_mm_mlo.csv" in names or not any(corpus.iterdir())
    for figure in results["figures"]:
        check_figure(figure)
        assert not figure["detail"].startswith("failed"), figure
        assert figure["ours"] is not None
        if figure["baseline"] is not None:
            assert figure["ratio"] is not None and figure["ratio"] > 0


def test_figures_that_need_services_are_skipped_without_them(tmp_path: Path) -> None:
    work = bench.Bench(sizes=TINY, services=bench.Services(), work=tmp_path)
    for name in ("publish", "store", "job", "api-call"):
        figures = bench.FIGURES[name](work)
        assert figures
        for figure in figures:
            check_figure(asdict(figure))
            assert figure.ours is None and not figure.met
            assert figure.detail


@pytest.mark.timeout(120)
def test_cold_import_figure_compares_the_api_with_a_bare_app(tmp_path: Path) -> None:
    (figure,) = bench.api_cold_import(bench.Bench(sizes=TINY, services=bench.Services(), work=tmp_path))
    assert figure.figure == "API cold import"
    assert figure.ours and figure.baseline and figure.ratio
    assert "heavy modules loaded: none" in figure.detail


def test_table_lists_every_figure_with_its_verdict() -> None:
    results = {
        "figures": [
            asdict(bench.Figure("CSV extraction", 10.0, 20.0, 0.5, ">= 0.5", True, "points/s")),
            asdict(bench.Figure("Publish", None, None, None, ">= 0.8", False, detail="no RabbitMQ")),
        ]
    }
    table = bench.render_table(results).splitlines()
    assert table[0].split() == ["figure", "ours", "baseline", "ratio", "target", "met"]
    assert "yes" in table[2] and "skipped" in table[3]


def test_a_corpus_file_the_generator_cannot_wrap_is_reported_and_the_others_still_measured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.csv").write_text("year,value\n2019,1\n2020,2\n2021,3\n")
    (corpus / "words.csv").write_text("name,comment\nalpha,first\nbeta,second\ngamma,third\n")
    for name in ("good.csv", "words.csv"):
        request = {"name": "value", "description": "", "unit": ""}
        expected = {"file": name, "indicator_request": request}
        (corpus / f"{name}.expected.json").write_text(json.dumps(expected))
    monkeypatch.setattr(bench, "CORPUS", corpus)
    work = bench.Bench(sizes=TINY, services=bench.Services(), work=tmp_path)

    figures = {figure.figure: figure for figure in bench.FIGURES["generation"](work)}

    assert figures["Generation: good.csv"].met and figures["Generation: good.csv"].ours is not None
    failing = figures["Generation: words.csv"]
    assert failing.ours is None and not failing.met
    assert failing.detail.startswith("fails: NoSeriesFoundError")
    summary = figures["Generation"]
    assert summary.ours == figures["Generation: good.csv"].ours and not summary.met
    assert "1/2 corpus files wrapped" in summary.detail and "failing: words.csv" in summary.detail


def test_a_warm_up_runs_each_side_once_untimed_before_the_interleaved_rounds() -> None:
    calls: list[str] = []

    def side(name: str) -> Callable[[], float]:
        def run() -> float:
            calls.append(name)
            return float(len(calls))

        return run

    mine, theirs = bench.interleaved(side("ours"), side("base"), 3, warm_up=True)
    assert calls == ["ours", "base", "ours", "base", "base", "ours", "ours", "base"]
    assert (mine, theirs) == ([3.0, 6.0, 7.0], [4.0, 5.0, 8.0])
    assert bench.interleaved(side("ours"), side("base"), 1) == ([9.0], [10.0])
