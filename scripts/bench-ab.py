#!/usr/bin/env python3
"""Interleaved A/B of `fedcybgd bench` between builds, for the before/after figures in docs/PERFORMANCE.md.

    scripts/bench-ab.py [--rounds N] [--out FILE] [--note TEXT] NAME=BINARY[@EXTRA ARGS] ... -- BENCH ARGS

Each round runs every binary once, in the order given, as
`chrt -f 50 BINARY bench BENCH ARGS EXTRA ARGS` with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset
(the kernels fedcybgd chooses; `chrt` needs root and keeps other work off the cores), so that drift
of a shared machine falls on every binary alike. It prints each run's tokens/s per case, then the
medians per binary and their ratio to the first binary's, and the median of each case's
`attention_cost_per_flop` (attention's time per FLOP over the dense layers', inside the step).
With --out, the date, the command, the machine lines and the whole table go to FILE as well.
EXTRA ARGS lets one build skip what another does not have (for example `--no-sgemm-reference`,
which older builds do not know).
"""
import argparse
import datetime
import os
import re
import shlex
import statistics
import subprocess
import sys

CASE = re.compile(r"^  (full|first layer|last layer)\S*(?: \(block \d+\))?\s+tokens/s=\s*(\d+)", re.M)
ATTENTION = re.compile(r"attention_cost_per_flop=([0-9.]+)")


def attention_costs(output: str) -> dict:
    """Each case's attention_cost_per_flop, from the 'inside the step' line that follows its line."""
    costs, case = {}, None
    for line in output.splitlines():
        found = CASE.match(line)
        if found:
            case = found.group(1)
        elif case and (cost := ATTENTION.search(line)):
            costs[case] = float(cost.group(1))
    return costs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out")
    parser.add_argument("--note", default="", help="a line for the file's header: what the builds are")
    parser.add_argument("builds", nargs="+", help="NAME=BINARY[@EXTRA ARGS]")
    argv = sys.argv[1:]
    bench_args = argv[argv.index("--") + 1:] if "--" in argv else []
    options = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    builds = []
    for spec in options.builds:
        name, _, rest = spec.partition("=")
        binary, _, extra = rest.partition("@")
        if not name or not binary or not os.access(binary, os.X_OK):
            print(f"bench-ab: '{spec}' is not NAME=BINARY[@EXTRA ARGS] with an executable BINARY", file=sys.stderr)
            return 2
        builds.append((name, binary, shlex.split(extra)))
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    machine = subprocess.run([builds[0][1], "bench", "--sgemm-only", "--layers", "1", "--width", "32", "--heads", "2",
                              "--vocab", "64", "--sequence", "16", "--batch", "2"], capture_output=True, text=True, env=env)
    lines = [l for l in machine.stdout.splitlines() if l.startswith(("cpu:", "blas:", "kernels:"))]
    runs = {name: {} for name, _, _ in builds}
    attention = {name: {} for name, _, _ in builds}
    for round_ in range(1, options.rounds + 1):
        for name, binary, extra in builds:
            done = subprocess.run(["chrt", "-f", "50", binary, "bench", *bench_args, *extra],
                                  capture_output=True, text=True, env=env)
            if done.returncode != 0:
                print(f"bench-ab: {name} failed: {done.stderr.strip()}", file=sys.stderr)
                return 1
            found = CASE.findall(done.stdout)
            for case, tokens in found:
                runs[name].setdefault(case, []).append(int(tokens))
            costs = attention_costs(done.stdout)
            for case, cost in costs.items():
                attention[name].setdefault(case, []).append(cost)
            line = f"round {round_} {name}: " + ", ".join(
                f"{case} {tokens}" + (f" (attention {costs[case]:.2f})" if case in costs else "") for case, tokens in found)
            print(line, flush=True)
            lines.append(line)
    first = builds[0][0]
    lines.append("")
    lines.append("medians of tokens/s (ratio to " + first + "):")
    for case in runs[first]:
        base = statistics.median(runs[first][case])
        cells = [f"{name} {statistics.median(runs[name][case]):.0f} ({statistics.median(runs[name][case]) / base:.3f})"
                 for name, _, _ in builds if case in runs[name]]
        lines.append(f"  {case}: " + ", ".join(cells))
    summary = len(runs[first]) + 1
    if any(attention[name] for name in attention):
        lines.append("medians of attention_cost_per_flop inside the step:")
        for case in runs[first]:
            cells = [f"{name} {statistics.median(attention[name][case]):.3f}"
                     for name, _, _ in builds if attention[name].get(case)]
            lines.append(f"  {case}: " + ", ".join(cells))
        summary += len(runs[first]) + 1
    print("\n".join(lines[-summary:]))
    if options.out:
        command = "scripts/bench-ab.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        header = [f"scripts/bench-ab.py, {datetime.date.today()}, {options.rounds} rounds, interleaved",
                  f"command: {command}"] + ([options.note] if options.note else [])
        with open(options.out, "w") as f:
            f.write("\n".join(header + lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
