"""Time the whole main job, `eda run`, cold (fresh empty cache), cached (the same again into the
same folder: every stage reused) and with a warm cache into a new folder (every stage recomputed
from cached tool runs, timing simulations and accuracy points).

Goals: <= 30 min cold and <= 3 s cached on this 2-core machine. Prints the three, the time of
every stage of the cold and warm runs (run_stages.json, written by the job), whether the cached
run reused every stage, and the peak memory (largest resident set of the job's process tree,
getrusage). Outputs go to a temporary folder, not reports/.

    EDA_PLATFORMS_DIR=../shared/platforms .venv/bin/python bench/bench_run.py [--config voltscale.toml]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(config: Path, cache: Path, out: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "eda.cli", "--cache-dir", str(cache), "run", "--config", str(config),
                    "--out", str(out)], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parent.parent / "voltscale.toml")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="voltscale-bench-run-") as tmp:
        cache, out = Path(tmp) / "cache", Path(tmp) / "out"
        cold = timed_run(args.config, cache, out)
        print(f"eda run, cold (empty cache)   {cold:8.1f} s  ({cold / 60:.1f} min; goal <= 30 min)")
        for stage, seconds in json.loads((out / "run_stages.json").read_text())["stages_s"].items():
            print(f"  {stage:<38s}{seconds:8.1f} s")
        peak_gib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        print(f"peak memory (largest process) {peak_gib:8.2f} GiB")
        cached = timed_run(args.config, cache, out)
        statuses = {name: s["status"] for name, s in json.loads((out / "run_stages.json").read_text())["stages"].items()}
        recomputed = [name for name, status in statuses.items() if status != "reused"]
        print(f"eda run, cached               {cached:8.1f} s  (goal <= 3 s; stages recomputed: {', '.join(recomputed) or 'none'})")
        print(f"cached / cold                 {cached / cold:8.3f}")
        warm = timed_run(args.config, cache, Path(tmp) / "out2")
        print(f"eda run, warm cache, new out  {warm:8.1f} s")
        for stage, seconds in json.loads((Path(tmp) / "out2" / "run_stages.json").read_text())["stages_s"].items():
            print(f"  {stage:<38s}{seconds:8.1f} s")


if __name__ == "__main__":
    main()
