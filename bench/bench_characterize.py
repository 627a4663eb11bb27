"""Time characterization: one variant end to end and the full default sweep, cold and cached.

Cold = a fresh, empty cache (liberty preparation included); cached = the same call
again. Prints seconds and the cached/cold ratio measured in this run.

    EDA_PLATFORMS_DIR=../shared/platforms .venv/bin/python bench/bench_characterize.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from eda.designs.registry import Variant
from eda.flow.characterize import characterize
from eda.jobs.config import load_config
from eda.designs.registry import mac_design
from eda.core.platforms import load_platform
from eda.designs.mac import MacParams
from eda.flow.sta import StaSettings


def timed(label: str, variants, platform, settings, cache: Path, jobs: int) -> float:
    start = time.perf_counter()
    result = characterize(variants, platform, settings, cache, jobs=jobs, progress=False)
    seconds = time.perf_counter() - start
    cached = sum(entry["cached"] for entry in result.runs)
    print(f"{label:<44} {seconds:8.2f} s   ({len(variants)} runs, {cached} from cache)")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one variant only, skip the full sweep")
    parser.add_argument("--jobs", type=int, default=0, help="parallel runs (0: one per core)")
    args = parser.parse_args()

    config = load_config()
    platform = load_platform(config.platform, os.environ.get("EDA_PLATFORMS_DIR"))
    settings = StaSettings(clock_period_ns=config.characterize.clock_period_ns, input_activity=config.characterize.input_activity)
    print(f"platform {platform.name}, {os.cpu_count()} cores, jobs={args.jobs or os.cpu_count()}")

    one = [Variant(mac_design(MacParams("proposed")), 2500)]
    with tempfile.TemporaryDirectory() as tmp:
        cold = timed("one variant (proposed, 2500 ps), cold", one, platform, settings, Path(tmp), args.jobs)
        warm = timed("one variant (proposed, 2500 ps), cached", one, platform, settings, Path(tmp), args.jobs)
        print(f"{'  cached / cold':<44} {warm / cold:8.3f}")

    if args.quick:
        return
    sweep = [Variant(mac_design(MacParams(kind)), t) for kind in config.kinds for t in config.characterize.targets_ps]
    with tempfile.TemporaryDirectory() as tmp:
        cold = timed("default sweep (voltscale.toml), cold", sweep, platform, settings, Path(tmp), args.jobs)
        warm = timed("default sweep (voltscale.toml), cached", sweep, platform, settings, Path(tmp), args.jobs)
        print(f"{'  cached / cold':<44} {warm / cold:8.3f}")
        print(f"{'  cold seconds per run':<44} {cold / len(sweep):8.2f}")


if __name__ == "__main__":
    main()
