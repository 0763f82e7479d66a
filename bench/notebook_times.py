"""The tutorials' run times: from a test run's measurement to notebooks/run-times.json and README.md's table.

Run: python3 bench/notebook_times.py           # prints what the last test run measured against what is recorded;
                                               # exit 1 when README.md's column differs from notebooks/run-times.json
     python3 bench/notebook_times.py --write   # records the measurement (artifacts/notebook-times.json, written by
                                               # `python3 -m pytest tests/test_notebooks.py`) and rewrites README.md

Only notebooks the run measured are updated, so a run of one notebook (`-k 05-message`) updates its line alone.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import run_times as rt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="record the measurement and rewrite README.md")
    parser.add_argument("--measured", type=Path, default=rt.MEASURED, help="a test run's notebook-times.json")
    args = parser.parse_args()

    times = rt.load()
    measured = json.loads(args.measured.read_text()) if args.measured.exists() else {}
    for name, m in sorted(measured.items()):
        seconds = m["seconds"] if isinstance(m, dict) else m
        recorded = times.get(name, {}).get("seconds")
        print(f"{name:32} measured {seconds:6.1f} s   recorded {recorded if recorded is not None else '-'} s")
    if not measured:
        print(f"no measurement at {args.measured}: run `python3 -m pytest tests/test_notebooks.py` first")
    if args.write:
        times = rt.merge_measurement(times, measured, cores=os.cpu_count() or 1)
        rt.save(times)
    readme = rt.README.read_text(encoding="utf-8")
    wanted = rt.render(readme, times)
    if wanted == readme:
        print("README.md's run times match notebooks/run-times.json")
        return 0
    if args.write:
        rt.README.write_text(wanted, encoding="utf-8")
        print("wrote notebooks/run-times.json and README.md's run-time column")
        return 0
    print(f"README.md's run times differ from notebooks/run-times.json: run `{rt.WRITE_COMMAND}`")
    return 1


if __name__ == "__main__":
    sys.exit(main())
