"""Check and time one long-lived OpenSTA session against a fresh `sta` process per netlist.

Why: reading the liberty is most of a short STA run (~0.3 s of ~0.3-0.5 s on sky130hd), so one
OpenSTA process per corner that reads the liberty once and then times and powers many netlists
(read_verilog, link_design, constraints, report_checks, report_power) would be much cheaper. It
is only usable if its reports equal those of a fresh process. With OpenSTA 2.0.17 the timing
does but the power does not: the power-activity state is kept keyed by pointers into the freed
previous design, so a new design allocated at the same addresses inherits stale activities.

What: 4 sky130hd MAC variants (proposed at 2 targets, same top module; tpu; thundervolt) are
characterized with the project's own API (reused from the cache when there), then, at the
nominal corner and with each run's own sta.tcl:
  (a) every netlist in a fresh `sta -no_init -exit` process (as the flow runs it);
  (b) all of them in ONE process: read_liberty once, then the rest of each script in turn,
      the first netlist again at the end (stdout and stderr captured together, as the flow
      does: the activity trace the log parser reads is on stderr);
  (c) the same session with an LD_PRELOAD library whose free() does nothing, when a C
      compiler is found (memory is never reused: tells whether reuse is the cause).
Per netlist it prints fresh vs session critical-path delay and total power (parse_sta_log, as
the flow reads them), the relative power difference, whether the logs are byte-identical, and
the times (fresh process per netlist, session per netlist, liberty read alone), then a
one-line conclusion computed from those numbers. It exits 0 whichever the outcome: it
measures, it does not test.

    EDA_PLATFORMS_DIR=../shared/platforms .venv/bin/python bench/bench_sta_session.py [--sessions 3] [--no-nofree]

Also checks that the fresh runs reproduce the flow's own sta.log. Options: --sessions R (the
plain session R times, default 3: which addresses get reused varies from run to run, and so
do the errors), --no-nofree, --cache-dir.

Takes ~10-15 s on 2 cores when the 4 variants are cached (4 fresh STA runs, 6 liberty-only or
empty runs, 4 sessions of ~1 s); characterizing them cold (all configured corners, so that
`eda run` reuses them) adds ~30-60 s.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from eda.core.platforms import load_platform
from eda.designs.registry import Variant, mac_design
from eda.flow.characterize import characterize
from eda.flow.sta import StaSettings, sta_executable, sta_metrics
from eda.jobs.config import load_config, mac_params
from eda.parsers.sta import parse_sta_log, split_sections

VARIANTS = [("proposed", 2500), ("proposed", 3000), ("tpu", 2500), ("thundervolt", 2500)]
NOFREE_C = "#include <stddef.h>\nvoid free(void *p) { (void)p; }\nvoid cfree(void *p) { (void)p; }\n"
BANNER_END = "This program comes with ABSOLUTELY NO WARRANTY"
MARK = re.compile(r"^@@@(begin|done) (\d+) (\d+)$", re.MULTILINE)


def strip_banner(text: str) -> str:
    """A log without OpenSTA's start-up banner (printed by every process, once per session)."""
    at = text.find(BANNER_END)
    return text if at < 0 else text[text.index("\n", at) + 1:]


def run_sta(sta: str, script: Path, env: dict | None = None) -> tuple[str, float]:
    """Run one script in a fresh process, stdout and stderr into one file as run_tool does."""
    log = script.with_suffix(".log")
    start = time.perf_counter()
    with open(log, "w") as out:
        subprocess.run([sta, "-no_init", "-exit", script.name], cwd=script.parent, stdout=out, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})}, check=False)
    return log.read_text(errors="replace"), time.perf_counter() - start


def split_script(sta_tcl: Path) -> tuple[str, str]:
    """(the read_liberty line, the rest) of a run's sta.tcl, its netlist path made absolute."""
    netlist = (sta_tcl.parent / "../01-synth/netlist.v").resolve()
    liberty, rest = None, []
    for line in sta_tcl.read_text().splitlines():
        if line.startswith("read_liberty ") and liberty is None:
            liberty = line
        elif not line.startswith("#"):
            rest.append(line.replace("../01-synth/netlist.v", str(netlist)))
    if liberty is None:
        raise SystemExit(f"{sta_tcl}: no read_liberty line")
    return liberty, "\n".join(rest) + "\n"


def split_session(text: str, count: int) -> tuple[list[str], list[float]]:
    """The session log cut at its marker lines: each netlist's part and its in-process seconds."""
    marks = list(MARK.finditer(text))
    parts, seconds = [], []
    for i in range(count):
        begin = next((m for m in marks if m.group(1) == "begin" and int(m.group(2)) == i), None)
        done = next((m for m in marks if m.group(1) == "done" and int(m.group(2)) == i), None)
        if begin is None or done is None:  # the session died part way
            parts.append(text[begin.end() + 1:] if begin else "")
            seconds.append(float("nan"))
            continue
        parts.append(text[begin.end() + 1:done.start()])
        seconds.append((int(done.group(3)) - int(begin.group(3))) / 1e6)
    return parts, seconds


def summary(text: str, settings: StaSettings) -> tuple[float, float] | str:
    """(critical-path delay ns, total power W) as the flow reads them, or the parser's complaint."""
    try:
        metrics = sta_metrics(parse_sta_log(text), settings)
    except Exception as exc:  # noqa: BLE001 - EdaError mostly: a broken session log is a result here
        return f"unparsable: {str(exc).splitlines()[0][:60]}"
    return metrics["sta__delay_ns"], metrics["sta__power_w"]


def differing_sections(fresh: str, session: str) -> str:
    """The `@@ <section>`s whose text differs between two logs, e.g. "power"."""
    a, b = split_sections(fresh), split_sections(session)
    names = [n for n in dict.fromkeys([*a, *b]) if a.get(n) != b.get(n)]
    if fresh.split("@@ ", 1)[0] != session.split("@@ ", 1)[0]:
        names.insert(0, "preamble")
    return ",".join(names) or "?"


def build_nofree(tmp: Path) -> Path | None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    (tmp / "nofree.c").write_text(NOFREE_C)
    lib = tmp / "nofree.so"
    built = subprocess.run([cc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(tmp / "nofree.c")], capture_output=True,
                           text=True, check=False)
    return lib if built.returncode == 0 and lib.is_file() else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path,
                        default=Path(os.environ.get("VOLTSCALE_CACHE") or Path.home() / ".cache" / "voltscale"),
                        help="run cache to reuse (default: $VOLTSCALE_CACHE or ~/.cache/voltscale)")
    parser.add_argument("--sessions", type=int, default=3, metavar="R",
                        help="run the plain session R times (memory reuse need not repeat itself; default 3)")
    parser.add_argument("--no-nofree", action="store_true", help="skip the session with free() disabled")
    args = parser.parse_args()

    config = load_config()
    platform = load_platform("sky130hd", os.environ.get("EDA_PLATFORMS_DIR"))
    settings = StaSettings(clock_period_ns=config.characterize.clock_period_ns, input_activity=config.characterize.input_activity)
    corner = platform.nominal_corner
    variants = [Variant(mac_design(mac_params(config, kind)), target) for kind, target in VARIANTS]
    # The configured corners too, so that the runs `eda run` made are the ones reused.
    corners = [c for c in config.corners if c in platform.corners] if config.platform == platform.name else None
    start = time.perf_counter()
    result = characterize(variants, platform, settings, args.cache_dir, corners=corners, progress=False)
    cached = sum(e["cached"] for e in result.runs)
    print(f"OpenSTA {result.tools.versions.get('sta', '?')}, {platform.name} corner {corner}, {os.cpu_count()} cores; "
          f"{len(variants)} variants characterized in {time.perf_counter() - start:.1f} s ({cached} from cache)")

    sta = sta_executable()
    scripts = [split_script(Path(e["cache_dir"]) / f"02-sta-{corner}" / "sta.tcl") for e in result.runs]
    names = [e["variant"] for e in result.runs]
    flow_logs = [strip_banner((Path(e["cache_dir"]) / f"02-sta-{corner}" / "sta.log").read_text(errors="replace"))
                 for e in result.runs]
    if len({lib for lib, _ in scripts}) != 1:
        raise SystemExit("the runs' scripts read different liberties; cannot share one session")
    liberty = scripts[0][0]
    order = list(range(len(scripts))) + [0]  # the first netlist again at the end

    with tempfile.TemporaryDirectory(prefix="bench-sta-session-") as tmp_name:
        tmp = Path(tmp_name)
        # (a) fresh processes
        fresh, fresh_s = [], []
        for i, (lib, rest) in enumerate(scripts):
            script = tmp / f"fresh{i}.tcl"
            script.write_text(f"{lib}\n{rest}")
            text, seconds = run_sta(sta, script)
            fresh.append(strip_banner(text))
            fresh_s.append(seconds)
        # the fixed costs: an empty process, and one that only reads the liberty (best of 3)
        (tmp / "empty.tcl").write_text("\n")
        (tmp / "liberty.tcl").write_text(f"{liberty}\n")
        empty_s = min(run_sta(sta, tmp / "empty.tcl")[1] for _ in range(3))
        liberty_s = min(run_sta(sta, tmp / "liberty.tcl")[1] for _ in range(3))

        # (b) one session, (c) the same with free() disabled
        body = ['puts "@@@lib [clock microseconds]"', liberty, 'puts "@@@lib [clock microseconds]"']
        for k, i in enumerate(order):
            body += [f'puts "@@@begin {k} [clock microseconds]"', scripts[i][1].rstrip("\n"),
                     f'puts "@@@done {k} [clock microseconds]"']
        session_tcl = tmp / "session.tcl"
        session_tcl.write_text("\n".join(body) + "\n")
        repeats = max(1, args.sessions)
        sessions = {f"session {r + 1}/{repeats}": {} for r in range(repeats)}
        nofree = None if args.no_nofree else build_nofree(tmp)
        if nofree is not None:
            sessions["no-free session"] = {"LD_PRELOAD": str(nofree)}
        results = {}
        for label, env in sessions.items():
            text, wall = run_sta(sta, session_tcl, env)
            parts, seconds = split_session(text, len(order))
            lib_marks = [int(v) for v in re.findall(r"^@@@lib (\d+)$", text, re.MULTILINE)]
            lib_in_s = (lib_marks[1] - lib_marks[0]) / 1e6 if len(lib_marks) == 2 else float("nan")
            results[label] = (parts, seconds, wall, lib_in_s)

    same_as_flow = sum(f == g for f, g in zip(fresh, flow_logs))
    print(f"fresh processes reproduce the flow's own sta.log (banner aside) for {same_as_flow} of {len(fresh)} netlists")
    print(f"\nfixed costs: empty sta process {empty_s:.3f} s; process that only reads the liberty {liberty_s:.3f} s "
          f"(liberty read {liberty_s - empty_s:.3f} s)")
    width = max(len(n) for n in names) + 4
    worst = {}
    for label, (parts, seconds, wall, lib_in_s) in results.items():
        print(f"\n{label}: {wall:.3f} s wall for {len(order)} netlists; liberty read in the session {lib_in_s:.3f} s")
        print(f"{'#':>2} {'variant':<{width}} {'delay fresh':>11} {'session':>8} {'power fresh W':>14} {'session W':>13} "
              f"{'dP %':>8} {'fresh s':>8} {'sess. s':>8}  log")
        worst[label] = (0.0, 0, 0)  # largest |dP| %, differing logs, unparsable logs
        for k, i in enumerate(order):
            ours, theirs = summary(fresh[i], settings), summary(parts[k], settings)
            same = parts[k] == fresh[i]
            name = names[i] + (" (again)" if k >= len(scripts) else "")
            largest, differing, broken = worst[label]
            differing += not same
            if isinstance(theirs, str) or isinstance(ours, str):
                broken += 1
                cells = f"{theirs if isinstance(theirs, str) else ours:>57}"
            else:
                dp = 100.0 * (theirs[1] - ours[1]) / ours[1]
                largest = dp if abs(dp) > abs(largest) else largest
                cells = f"{ours[0]:11.4f} {theirs[0]:8.4f} {ours[1]:14.6e} {theirs[1]:13.6e} {dp:+8.3f}"
            worst[label] = (largest, differing, broken)
            log = "identical" if same else f"DIFFERS in {differing_sections(fresh[i], parts[k])}"
            print(f"{k:>2} {name:<{width}} {cells} {fresh_s[i]:8.3f} {seconds[k]:8.3f}  {log}")
        per = [s for s in seconds if not math.isnan(s)]
        if per:
            print(f"   mean per netlist: fresh process {sum(fresh_s) / len(fresh_s):.3f} s, in the session "
                  f"{sum(per) / len(per):.3f} s")

    plain = [label for label in results if label.startswith("session")]
    largest = max((worst[label][0] for label in plain), key=abs)
    differing = sum(worst[label][1] for label in plain)
    broken = sum(worst[label][2] for label in plain)
    runs = len(plain) * len(order)
    order_runs = f"{len(plain)} session(s) x {len(order)} netlists"
    if differing == 0:
        verdict = f"session logs byte-identical to fresh ones in all {order_runs}: usable"
    elif broken:
        verdict = f"{broken} session log(s) unparsable, {differing} of {runs} differ ({order_runs}): not usable"
    elif largest != 0.0:
        verdict = (f"session power differs from fresh by up to {largest:+.2f}% ({differing} of {runs} logs differ, "
                   f"{order_runs}): not usable")
    else:
        verdict = f"session delay and power equal fresh, but {differing} of {runs} logs differ in other text: check before use"
    if len(plain) > 1 and len({tuple(results[label][0]) for label in plain}) > 1:
        verdict += "; repeated sessions disagree with each other too"
    if "no-free session" in worst:
        nf_largest, nf_differing, _ = worst["no-free session"]
        verdict += ("; with free() disabled identical (memory reuse is the cause)" if nf_differing == 0 else
                    f"; with free() disabled still {nf_differing} differ (up to {nf_largest:+.2f}%)")
    elif not args.no_nofree:
        verdict += "; no C compiler, no-free session skipped"
    print(f"\nconclusion: {verdict}")


if __name__ == "__main__":
    main()
