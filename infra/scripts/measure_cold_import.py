"""Cold import time of the API function against a bare FastAPI + Mangum + pymongo app.

Each figure is the median of N fresh interpreters (`python -c …`, so no module is cached in memory;
bytecode caches on disk are warmed by one untimed run first, as they are in a deployed package).
Measured inside the child: from just before the import to just after it, so interpreter start-up
is left out; the whole child's wall time is reported too.

    .venv/bin/python infra/scripts/measure_cold_import.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BASELINE = """
from fastapi import FastAPI
from mangum import Mangum
import pymongo

app = FastAPI()


@app.get("/health")
def health() -> dict:
    return {"status": "ok"}


handler = Mangum(app, lifespan="off")
"""

PROBE = """
import json, sys, time
started = time.perf_counter()
{body}
elapsed = time.perf_counter() - started
heavy = [m for m in ("pandas", "numpy", "google.genai", "matplotlib", "python_calamine", "openpyxl", "boto3")
         if m in sys.modules]
print(json.dumps({{"seconds": elapsed, "modules": len(sys.modules), "heavy": heavy}}))
"""

CANDIDATES = {
    "bare FastAPI+Mangum+pymongo": f"exec(compile({BASELINE!r}, 'baseline_app', 'exec'), {{}})",
    "functions.api.app": "import functions.api.app",
}


def measure(body: str) -> dict[str, object]:
    """Run one fresh interpreter; return the import time, its wall time and what it loaded."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    result: dict[str, object] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["wall"] = wall
    return result


def main() -> int:
    """Print the median import and wall times of each candidate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per candidate (default: 5)")
    args = parser.parse_args()
    for body in CANDIDATES.values():
        measure(body)  # warm the bytecode caches; not timed
    # Interleaved, so that a change in machine load affects both candidates alike.
    rounds = [{name: measure(body) for name, body in CANDIDATES.items()} for _ in range(args.runs)]
    medians: dict[str, float] = {}
    for name in CANDIDATES:
        runs = [round_[name] for round_ in rounds]
        imports = [float(str(run["seconds"])) for run in runs]
        walls = [float(str(run["wall"])) for run in runs]
        medians[name] = statistics.median(imports)
        print(
            f"{name:30s} import median {statistics.median(imports) * 1000:7.1f} ms "
            f"(min {min(imports) * 1000:.1f}, max {max(imports) * 1000:.1f}); "
            f"process wall median {statistics.median(walls) * 1000:7.1f} ms; "
            f"{runs[0]['modules']} modules; heavy: {runs[0]['heavy'] or 'none'}"
        )
    baseline, api = medians.values()
    print(f"API function / bare app: {api / baseline:.2f}x (+{(api - baseline) * 1000:.1f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
