"""Run one benchmark script from two source trees in turns and report the ratio of every figure.

    git archive dd58215 | tar -x -C /tmp/mcd_before          # the code before the speed work
    .venv/bin/python benchmarks/compare_trees.py --before /tmp/mcd_before --rounds 3 -- \\
        benchmarks/bench_train.py --data data/music_scenes/classroom --models mcd --steps 8 --skip-time-to-best

The script (a path relative to a tree's root, present in both) is run as
``python <tree>/<script> ARGS --json FILE`` with ``PYTHONPATH=<tree>``, alternating the trees
``--rounds`` times, so a load change on a shared machine hits both alike. Every number the
script writes to its JSON is reported as the median per tree and the ratio after / before; the
load average is printed around each run. Both trees read the same data folder.
``--script-from after`` runs the later tree's script for both (a benchmark the earlier tree
does not have, e.g. ``benchmarks/bench_models.py --official-shapes --json``). ``--env KEY=VALUE``
sets a variable for both (e.g. ``OMP_WAIT_POLICY=PASSIVE`` on a busy machine: the same OpenMP
policy for both trees, see mcdlib/utils/threads.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def load() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


def run_once(tree: Path, script: Path, args: list[str], extra_env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "figures.json"
        env = dict(os.environ, **extra_env, PYTHONPATH=str(tree))
        subprocess.run([sys.executable, str(script), *args, "--json", str(out)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        return json.loads(out.read_text())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", required=True, help="source tree of the earlier code")
    parser.add_argument("--after", default=str(HERE), help="source tree of the later code (default: this one)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--script-from", choices=("each", "after"), default="each",
                        help="run each tree's own script (default) or the later tree's for both")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="environment variable for both trees' runs (repeatable)")
    parser.add_argument("script", help="benchmark script path relative to each tree's root")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments (after --)")
    args = parser.parse_args(argv)
    script_args = args.args[1:] if args.args[:1] == ["--"] else args.args
    trees = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    extra_env = dict(item.split("=", 1) for item in args.env)
    scripts = {name: (trees["after"] if args.script_from == "after" else tree) / args.script
               for name, tree in trees.items()}
    for name, script in scripts.items():
        if not script.is_file():
            print(f"{script}: not found (the {name} tree)", file=sys.stderr)
            return 2
    figures: dict[str, list[dict]] = {"before": [], "after": []}
    for r in range(args.rounds):
        for name, tree in trees.items():
            start = load()
            figures[name].append(run_once(tree, scripts[name], script_args, extra_env))
            print(f"round {r + 1}: {name} done (load {start} -> {load()})", file=sys.stderr, flush=True)
    keys = [k for k, v in figures["after"][0].items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k in figures["before"][0]]
    env_text = " ".join(args.env) or "inherited environment"
    print(f"{args.script} {' '.join(script_args)}: {args.rounds} rounds, trees in turns, {env_text}; "
          f"load now {load()}\n")
    print("| figure | before (median) | after (median) | after / before |\n|---|---|---|---|")
    for key in keys:
        b = statistics.median(f[key] for f in figures["before"])
        a = statistics.median(f[key] for f in figures["after"])
        ratio = f"{a / b:.2f}" if b else "-"
        print(f"| {key} | {b:,.1f} | {a:,.1f} | {ratio} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
