"""Produce the lab's closing artifacts: one sweep's JSON and CSV, and a PNG of each plot kind, under artifacts/lab/.

    python bench/lab_artifacts.py [--duration 1.5] [--out artifacts/lab]

The sweep: lossy, reliable and data_track x 200, 1200, 3000 bytes x 100, 300 and "max" messages/s x unimpaired,
loss 0.1, and loss 0.1 + delay 20 ms, on a local server behind the relay; plus a state-propagation table. Short runs, so
it finishes in a few minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from lk_notebook.lab import Impairment, Lab, measure, measure_state
from lk_notebook.lab.plots import save_all

OUT = Path(__file__).resolve().parent.parent / "artifacts" / "lab"


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=1.5)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    os.environ.pop("LIVEKIT_URL", None)  # a local server with the relay, so impairment is possible
    async with Lab() as lab:
        results = await measure(
            modes=["lossy", "reliable", "data_track"],
            sizes=[200, 1200, 3000],
            rates=[100, 300, None],
            impairments=[Impairment(), Impairment(loss=0.1), Impairment(loss=0.1, delay_ms=20)],
            duration=args.duration,
            lab=lab,
        )
        state = await measure_state(lab, repeats=10)
    out = args.out
    print(f"sweep JSON: {results.to_json(out / 'sweep.json')}")
    print(f"sweep CSV:  {results.to_csv(out / 'sweep.csv')}")
    state_json = json.dumps(state.to_dict("records"), indent=2) + "\n"
    (out / "state.json").write_text(state_json)
    print(f"state JSON: {out / 'state.json'}")
    for kind, path in save_all(results, str(out)).items():
        print(f"plot {kind}: {path}")
    print(state.to_string(index=False))


if __name__ == "__main__":
    asyncio.run(main())
