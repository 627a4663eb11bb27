"""Time characterization: one variant end to end and the full default sweep, cold and cached.

Cold = a fresh, empty cache (liberty preparation included); cached = the same call
again. Prints seconds and the cached/cold ratio measured in this run.

Core scaling: the same N distinct cold variants ((kind, target) pairs on sky130hd, nominal
corner only), each sweep in its own empty cache and its own child process, once with jobs=1
and once with jobs=2. Prints both wall times and the speed-up; the peak resident memory of
each sweep: the sampled peak of the whole process tree's summed PSS (what concurrent runs add
up to), and getrusage ru_maxrss of the sweep's process (RUSAGE_SELF) and of its largest child
(RUSAGE_CHILDREN; on Linux never below the forking process's own size); and the raw tool
floor: one bare yosys run of a variant's synth.ys plus one bare `sta` run of its sta.tcl (one
variant per kind, straight from a characterized run folder with subprocess), with
ours-per-variant (jobs=1 wall / N) over that floor as a ratio: what the flow adds to the tools
(ours includes the empty cache's one-off liberty preparation, which weighs more at small N).

    EDA_PLATFORMS_DIR=../shared/platforms .venv/bin/python bench/bench_characterize.py [--quick] [--scaling-variants N]

How long (2 cores, ~2.4 s per cold run at jobs=1): the one-variant part ~5 s; the scaling
measurement ~1.5 x N cold runs plus a few seconds of floor, ~3-4 min for the default N=50
(~40 s for N=6; --scaling-variants 0 skips it); the full default sweep (111 runs, cold then
cached; skipped by --quick) ~3-5 min more.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Self

from eda.core.platforms import load_platform
from eda.designs.mac import MAC_KINDS, MacParams
from eda.designs.registry import Variant, mac_design
from eda.flow.characterize import characterize
from eda.flow.sta import StaSettings
from eda.jobs.config import load_config, mac_params


def timed(label: str, variants, platform, settings, cache: Path, jobs: int) -> float:
    start = time.perf_counter()
    result = characterize(variants, platform, settings, cache, jobs=jobs, progress=False)
    seconds = time.perf_counter() - start
    cached = sum(entry["cached"] for entry in result.runs)
    print(f"{label:<44} {seconds:8.2f} s   ({len(variants)} runs, {cached} from cache)")
    return seconds


def _pss_kb(pid: int) -> int:
    """Proportional set size (kB): resident memory with shared pages split among their sharers, so
    that it adds up over a forked process tree (RSS would count the pages a fork shares twice)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_kb(root: int) -> int:
    """Summed resident memory (PSS, kB) of `root` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        total += _pss_kb(pid)
    return total


class TreePeak:
    """Samples tree_rss_kb(this process) every 50 ms while in the with block; .peak_kb after."""

    def __enter__(self) -> Self:
        self.peak_kb, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kb = max(self.peak_kb, tree_rss_kb(os.getpid()))
            self._stop.wait(0.05)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def _sweep_in_child(variants, platform, settings, cache: Path, jobs: int) -> tuple[float, int, list[str], int, int]:
    """One sweep in a child process of its own, so that its ru_maxrss figures are its alone."""
    start = time.perf_counter()
    result = characterize(variants, platform, settings, cache, jobs=jobs, progress=False)
    seconds = time.perf_counter() - start
    return (seconds, sum(e["cached"] for e in result.runs), [e["cache_dir"] for e in result.runs],
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)


def scaling_variants(count: int, targets: list[int]) -> list[Variant]:
    """`count` distinct (kind, target) variants, the kinds interleaved; targets beyond the
    configured ones continue in 50 ps steps."""
    targets = list(targets)
    while len(targets) * len(MAC_KINDS) < count:
        targets.append(max(targets) + 50)
    config = load_config()
    pairs = [(kind, t) for t in targets for kind in MAC_KINDS][:count]
    return [Variant(mac_design(mac_params(config, kind)), t) for kind, t in pairs]


def timed_tool(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    with open(cwd / "bench-floor.log", "w") as log:
        done = subprocess.run(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              check=False)
    if done.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed in {cwd} (exit {done.returncode}); see {cwd / 'bench-floor.log'}")
    return time.perf_counter() - start


def raw_floor(run_dir: Path, corner: str, scratch: Path) -> tuple[float, float]:
    """Seconds of one bare yosys run (01-synth/yosys-run.cmd) and one bare sta run (02-sta-<corner>/sta.cmd)
    in a copy of a characterized run folder (the cache stays untouched)."""
    copy = scratch / run_dir.name
    shutil.copytree(run_dir, copy)
    (copy / "01-synth" / "netlist.v").unlink()  # yosys must write it again
    yosys = timed_tool(shlex.split((copy / "01-synth" / "yosys-run.cmd").read_text()), copy / "01-synth")
    sta = timed_tool(shlex.split((copy / f"02-sta-{corner}" / "sta.cmd").read_text()), copy / f"02-sta-{corner}")
    return yosys, sta


def core_scaling(count: int, settings, targets: list[int]) -> None:
    platform = load_platform("sky130hd", os.environ.get("EDA_PLATFORMS_DIR"))
    variants = scaling_variants(count, targets)
    kinds = sorted({v.design.kind for v in variants})
    print(f"\ncore scaling: {len(variants)} cold variants ({', '.join(kinds)}; targets {variants[0].target_ps}.."
          f"{max(v.target_ps for v in variants)} ps), nominal corner {platform.nominal_corner}, each sweep in an empty cache")
    walls, run_dirs = {}, None
    with tempfile.TemporaryDirectory() as keep:
        for jobs in (1, 2):
            cache = Path(keep) / f"cache-jobs{jobs}"
            with ProcessPoolExecutor(1, mp_context=get_context("fork")) as child:
                future = child.submit(_sweep_in_child, variants, platform, settings, cache, jobs)  # forks here
                with TreePeak() as tree:
                    seconds, cached, dirs, self_kb, child_kb = future.result()
            walls[jobs] = seconds
            run_dirs = run_dirs or dirs
            print(f"{f'  jobs={jobs}, cold':<44} {seconds:8.2f} s   ({len(variants)} runs, {cached} from cache)")
            print(f"{'    peak resident memory':<44} {tree.peak_kb / 1024:8.0f} MB process tree (summed PSS, sampled every 50 ms); "
                  f"ru_maxrss {self_kb / 1024:.0f} MB sweep process (SELF), {child_kb / 1024:.0f} MB largest child (CHILDREN)")
        print(f"{'  speed-up jobs=1 / jobs=2':<44} {walls[1] / walls[2]:8.2f} x   (ideal 2.00 on 2 free cores)")
        # Linux keeps the pre-exec size of a forked child in its ru_maxrss, so RUSAGE_CHILDREN is at
        # least the sweep process's own size when the tools are smaller: the tree figure is the one to read.
        print("    (RUSAGE_CHILDREN never reads below the forking Python process's size: exec keeps its high-water mark)")

        floors = {}
        with tempfile.TemporaryDirectory() as scratch:
            for kind in kinds:
                index = next(i for i, v in enumerate(variants) if v.design.kind == kind)
                yosys, sta = raw_floor(Path(run_dirs[index]), platform.nominal_corner, Path(scratch))
                floors[kind] = yosys + sta
                print(f"{f'  raw floor {variants[index].name}':<44} {yosys + sta:8.2f} s   (bare yosys {yosys:.2f} s + bare sta {sta:.2f} s)")
    floor = sum(floors[v.design.kind] for v in variants) / len(variants)
    ours = walls[1] / len(variants)
    print(f"{'  ours per variant (jobs=1 wall / N)':<44} {ours:8.2f} s")
    print(f"{'  raw floor per variant (mean over the sweep)':<44} {floor:8.2f} s")
    print(f"{'  ours / raw floor':<44} {ours / floor:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one variant only, skip the full sweep (not the scaling measurement)")
    parser.add_argument("--jobs", type=int, default=0, help="parallel runs (0: one per core)")
    parser.add_argument("--scaling-variants", type=int, default=50, metavar="N",
                        help="cold variants of the jobs=1 vs jobs=2 measurement (0: skip it)")
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

    if args.scaling_variants > 0:
        core_scaling(args.scaling_variants, settings, config.characterize.targets_ps)

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
