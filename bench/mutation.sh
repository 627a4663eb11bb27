#!/usr/bin/env bash
# Mutation testing of the method layer (PyPI mutmut; what is mutated and which tests judge it:
# [tool.mutmut] in pyproject.toml). Runs on a copy of the working tree, so the checkout is
# never touched, and prints the score per module and overall: killed (a test failed, or the
# mutant hung and was timed out) over all mutants, and over the mutants left after removing the
# ones judged equivalent in bench/mutation_equivalent.txt (name, then the reason).
#
#   bench/mutation.sh            # about 40 min on 2 cores
#   JOBS=1 MUTATION_DIR=/tmp/m bench/mutation.sh   # keep the copy (mutmut resumes there)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${MUTATION_DIR:-$(mktemp -d -t voltscale-mutation.XXXXXX)}
mkdir -p "$work"
git ls-files -co --exclude-standard -z | tar --null -cf - -T - | tar -xf - -C "$work"
ln -sfn "$repo/.venv" "$work/.venv"
export EDA_PLATFORMS_DIR=${EDA_PLATFORMS_DIR:-$(cd ../shared/platforms 2>/dev/null && pwd || true)}
cd "$work"
echo "mutating in $work (log: $work/mutmut.log)" >&2
.venv/bin/mutmut run --max-children "${JOBS:-2}" > mutmut.log 2>&1 || { tail -n 30 mutmut.log >&2; exit 1; }
.venv/bin/mutmut results --all true > results.txt
.venv/bin/python - "$repo/bench/mutation_equivalent.txt" results.txt <<'PY'
import collections, re, sys
equivalent = {line.split()[0] for line in open(sys.argv[1]) if line.strip() and not line.startswith("#")}
status = {}
for line in open(sys.argv[2]):
    match = re.match(r"\s*(\S+): (.+)$", line)
    if match:
        status[match.group(1)] = match.group(2).strip()
per_module = collections.defaultdict(collections.Counter)
for name, state in status.items():
    module = name.split(".x_")[0]
    detected = state in ("killed", "timeout")
    per_module[module]["all"] += 1
    per_module[module]["killed"] += detected
    per_module[module]["equivalent"] += (not detected) and name in equivalent
    per_module[module]["no tests"] += state == "no tests"
print(f"{'module':40s} {'mutants':>8s} {'killed':>8s} {'score':>7s} {'equiv.':>7s} {'score w/o equiv.':>17s}")
total = collections.Counter()
for module, c in sorted(per_module.items()):
    total.update(c)
    print(f"{module:40s} {c['all']:8d} {c['killed']:8d} {c['killed'] / c['all']:7.1%} {c['equivalent']:7d} "
          f"{c['killed'] / (c['all'] - c['equivalent']):17.1%}")
print(f"{'total':40s} {total['all']:8d} {total['killed']:8d} {total['killed'] / total['all']:7.1%} "
      f"{total['equivalent']:7d} {total['killed'] / (total['all'] - total['equivalent']):17.1%}")
survivors = sorted(n for n, s in status.items() if s not in ("killed", "timeout") and n not in equivalent)
print(f"{len(survivors)} surviving mutants not judged equivalent (mutmut show NAME in the work folder):")
for name in survivors:
    print("  ", name, status[name])
PY
