"""Cold import time of the API function against a bare FastAPI + Mangum + pymongo app.

Each figure is the median of N fresh interpreters (`python -c …`, so no module is cached in memory;
bytecode caches on disk are warmed by one untimed run first, as they are in a deployed package).
Measured inside the child: from just before the import to just after it, so interpreter start-up
is left out; the whole child's wall time is reported too.

    .venv/bin/python infra/scripts/measure_cold_import.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

# The candidates and the measurement live in devtools.bench, whose "API cold import" figure uses them too.
from devtools.bench import IMPORT_CANDIDATES, cold_import_rounds  # noqa: E402


def main() -> int:
    """Print the median import and wall times of each candidate."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh interpreters per candidate (default: 5)")
    args = parser.parse_args()
    # Interleaved, so that a change in machine load affects both candidates alike.
    rounds = cold_import_rounds(args.runs)
    medians: dict[str, float] = {}
    for name in IMPORT_CANDIDATES:
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
