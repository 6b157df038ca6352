#!/usr/bin/env python3
"""Compares federated fine-tuning methods run as separate jobs (docs/COMPARISON.md).

    python3 analysis/compare_methods.py runs/compare-* --out docs

writes OUT/COMPARISON.md (a table per method, then the targets with their margins) and
OUT/comparison/eval_vs_round.png and eval_vs_bytes.png. Every number comes from the runs'
history.h5 (read with h5py, without file locking); a field a run does not record shows "n/a".
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import runfiles  # noqa: E402  (sets HDF5_USE_FILE_LOCKING before h5py loads)

NA = "n/a"
# An upload is one block plus a message header; the header is a few dozen bytes at most
# (docs/ALGORITHM.md), so anything larger than block + this is more than one block.
UPLOAD_HEADER_SLACK = 64


@dataclasses.dataclass
class Method:
    """One run, reduced to the quantities the comparison needs (None: not recorded)."""
    folder: pathlib.Path
    label: str
    algorithm: str
    rounds: int
    eval_rounds: np.ndarray          # rounds that evaluated
    eval_losses: np.ndarray
    cumulative_bytes: np.ndarray     # per row: bytes_down + bytes_up so far
    row_rounds: np.ndarray
    initial_eval: float | None
    final_eval: float | None
    total_bytes: int
    clients: int
    bytes_per_client_mean: float | None
    bytes_per_client_max: float | None
    upload_per_round: float | None   # mean bytes one client uploads in a round
    upload_check: tuple[bool, float] | None  # (every upload is one block, largest upload / its block)
    peak_client_rss: float | None
    peak_server_rss: float | None
    wall_seconds: float
    settings: str                    # learning rate and transfer options from the stored job


def _label(folder: pathlib.Path) -> str:
    name = folder.name
    return name[len("compare-"):] if name.startswith("compare-") else name


def _algorithm(run: runfiles.Run) -> str:
    """The stored `algorithm` attribute, else the job's train.algorithm, else the engine default."""
    stored = run.attrs.get("algorithm") or (run.summary or {}).get("algorithm")
    if stored:
        return str(stored)
    return str(run.job.get("train", {}).get("algorithm", "fedcybgd"))


def _settings(job: dict) -> str:
    """The job keys that tell the methods apart; keys the job lacks are left out."""
    train, down, up, lora = (job.get(k, {}) for k in ("train", "download", "upload", "lora"))
    parts = [f"lr {train['learning_rate']:g}"] if "learning_rate" in train else []
    if "codec" in down:
        parts.append(f"down {down['codec']}")
    if down.get("drop_fraction"):
        parts.append(f"drop {down['drop_fraction']:g} {down.get('drop_rule', '')}".rstrip())
    if "codec" in up:
        parts.append(f"up {up['codec']}")
    if "rank" in lora:
        parts.append(f"LoRA rank {lora['rank']}" + (f" α {lora['alpha']:g}" if "alpha" in lora else ""))
    return ", ".join(parts) or NA


def _upload(run: runfiles.Run) -> tuple[float | None, tuple[bool, float] | None]:
    """Mean per-client upload per round, and whether every upload is at most its block's fp32 size."""
    if run.rows == 0:
        return None, None
    table = np.atleast_2d(run.col("client_bytes_up"))[: run.rows].astype(np.float64)
    per_client = [row[row >= 0] for row in table]
    values = np.concatenate([row for row in per_client if row.size]) if any(r.size for r in per_client) else np.array([])
    mean = float(values.mean()) if values.size else None
    sizes = runfiles.encoded_block_sizes(run)
    if sizes is None or not values.size:
        return mean, None
    worst, ok = 0.0, True
    for i, row in enumerate(per_client):
        block = int(run.col("block")[i])
        if row.size and 0 <= block < len(sizes):
            worst = max(worst, float(row.max()) / sizes[block])
            ok = ok and float(row.max()) <= sizes[block] + UPLOAD_HEADER_SLACK
    return mean, (ok, worst)


def _rss(run: runfiles.Run) -> tuple[float | None, float | None]:
    summary = run.summary or {}
    client, server = summary.get("peak_client_rss"), summary.get("peak_server_rss")
    if "rank_peak_rss" in run.history:
        table = np.atleast_2d(run.col("rank_peak_rss")).astype(np.float64)
        if client is None and table.shape[1] > 1:
            client = float(table[:, 1:].max())
        if server is None:
            server = float(table[:, 0].max())
    return (None if client is None else float(client)), (None if server is None else float(server))


def load_method(folder) -> Method:
    folder = pathlib.Path(folder)
    run = runfiles.load_run(folder)
    rows, losses = runfiles.eval_points(run)
    spent = np.cumsum(run.col("bytes_down").astype(np.int64) + run.col("bytes_up").astype(np.int64))
    summary = run.summary or {}
    total = int(summary["total_bytes_down"]) + int(summary["total_bytes_up"]) if "total_bytes_down" in summary \
        else int(spent[-1]) if spent.size else 0
    clients, _ = run.client_count()
    mean, largest = summary.get("bytes_per_client_mean"), summary.get("bytes_per_client_max")
    if mean is None and clients:
        measured = runfiles.measured_bytes_per_client(run)
        if measured:
            mean, largest = float(np.mean(list(measured.values()))), float(max(measured.values()))
    upload, check = _upload(run)
    client_rss, server_rss = _rss(run)
    final = summary.get("final_eval_loss", losses[-1] if losses.size else None)
    return Method(folder, _label(folder), _algorithm(run), int(run.col("round")[-1]) if run.rows else 0,
                  run.col("round")[rows].astype(int), losses, spent, run.col("round").astype(int),
                  run.initial_eval_loss(), None if final is None else float(final), total, clients,
                  None if mean is None else float(mean), None if largest is None else float(largest),
                  upload, check, client_rss, server_rss, float(run.col("seconds").sum()), _settings(run.job))


def eval_at_round(m: Method, limit: int) -> float | None:
    """The newest eval loss at or before round `limit` (the initial one before any evaluation)."""
    ok = m.eval_rounds <= limit
    return float(m.eval_losses[ok][-1]) if ok.any() else m.initial_eval


def eval_at_bytes(m: Method, budget: float) -> float | None:
    """The newest eval loss of a round whose cumulative bytes stay within `budget`."""
    rows = {int(r): i for i, r in enumerate(m.row_rounds)}
    within = [loss for r, loss in zip(m.eval_rounds, m.eval_losses) if m.cumulative_bytes[rows[int(r)]] <= budget]
    return float(within[-1]) if within else m.initial_eval


FEDERATED = ("fedcybgd", "fedavg", "fedlora")


def common_budget(methods) -> float | None:
    """The largest byte budget every federated method reached. The centralized references
    (centralized, badam) have one client and are left out: their bytes are notional."""
    totals = [m.cumulative_bytes[-1] for m in methods
              if m.algorithm in FEDERATED and m.cumulative_bytes.size and m.cumulative_bytes[-1] > 0]
    return float(min(totals)) if totals else None


def fmt(value, kind: str = "loss") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return NA
    if kind == "loss":
        return f"{value:.4f}"
    if kind == "bytes":
        factor, unit = runfiles.scale_bytes([value])
        return f"{value / factor:.2f} {unit}" if unit != "bytes" else f"{int(value)} bytes"
    if kind == "seconds":
        return f"{value:.1f} s"
    return str(value)


def method_table(methods, equal_rounds: int, budget: float | None) -> list[str]:
    lines = ["| method | algorithm | settings | rounds | eval loss at round " + str(equal_rounds)
             + " | eval loss at " + (fmt(budget, "bytes") if budget is not None else NA)
             + " | total bytes | bytes per client (mean / max) | upload per client per round | peak client RSS "
             + "| peak server RSS | wall time |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in methods:
        at_bytes = eval_at_bytes(m, budget) if budget is not None and m.total_bytes > 0 else None
        per_client = NA if m.bytes_per_client_mean is None else \
            f"{fmt(m.bytes_per_client_mean, 'bytes')} / {fmt(m.bytes_per_client_max, 'bytes')}"
        lines.append(f"| {m.label} | {m.algorithm} | {m.settings} | {m.rounds} | {fmt(eval_at_round(m, equal_rounds))} | {fmt(at_bytes)} "
                     f"| {fmt(m.total_bytes, 'bytes')} | {per_client} | {fmt(m.upload_per_round, 'bytes')} "
                     f"| {fmt(m.peak_client_rss, 'bytes')} | {fmt(m.peak_server_rss, 'bytes')} | {fmt(m.wall_seconds, 'seconds')} |")
    return lines


def _verdict(ok: bool | None) -> str:
    return NA if ok is None else ("met" if ok else "**missed**")


def target_rows(methods, equal_rounds: int, budget: float | None) -> list[tuple[str, str, str, str, str]]:
    """(target, method, measured, verdict, margin) for each FedCyBGD run against the baselines."""
    def first(algorithm):
        return next((m for m in methods if m.algorithm == algorithm), None)
    fedavg, fedlora = first("fedavg"), first("fedlora")
    rows = []
    for m in (m for m in methods if m.algorithm == "fedcybgd"):
        if m.peak_client_rss is not None and fedavg is not None and fedavg.peak_client_rss:
            ratio = m.peak_client_rss / fedavg.peak_client_rss
            rows.append(("client peak RSS ≤ 50% of FedAvg's", m.label, f"{ratio:.1%} of FedAvg's", _verdict(ratio <= 0.5),
                         f"{(0.5 - ratio) * 100:+.1f} points"))
        else:
            rows.append(("client peak RSS ≤ 50% of FedAvg's", m.label, NA, NA, NA))
        if m.upload_check is not None:
            ok, worst = m.upload_check
            rows.append(("upload per round = one block's encoded size", m.label,
                         f"largest upload is {worst:.1%} of its block's fp32 size", _verdict(ok),
                         f"{(1 - worst) * 100:+.1f}% of a block (a header of up to {UPLOAD_HEADER_SLACK} bytes allowed)"))
        else:
            rows.append(("upload per round = one block's encoded size", m.label, NA, NA, NA))
        rows += _loss_targets(m, fedavg, fedlora, equal_rounds, budget)
    return rows


def _loss_targets(m, fedavg, fedlora, equal_rounds, budget):
    mine = eval_at_round(m, equal_rounds)
    rows = []
    if fedavg is not None and fedavg.cumulative_bytes.size and m.cumulative_bytes.size:
        # The largest budget both runs reached: the pair's own equal-bytes point.
        budget = float(min(m.cumulative_bytes[-1], fedavg.cumulative_bytes[-1]))
    if budget is not None and fedavg is not None and fedavg.total_bytes > 0:
        a, b = eval_at_bytes(m, budget), eval_at_bytes(fedavg, budget)
        ok = None if a is None or b is None else a <= b
        rows.append((f"eval ≤ FedAvg's at {fmt(budget, 'bytes')}", m.label, f"{fmt(a)} vs {fmt(b)}", _verdict(ok),
                     NA if ok is None else f"{b - a:+.4f} nats"))
    else:
        rows.append(("eval ≤ FedAvg's at equal bytes", m.label, NA, NA, NA))
    theirs = eval_at_round(fedavg, equal_rounds) if fedavg else None
    if mine is not None and theirs:
        gap = (mine - theirs) / theirs
        rows.append((f"eval within 5% of FedAvg's at round {equal_rounds}", m.label, f"{gap:+.2%} vs FedAvg",
                     _verdict(gap <= 0.05), f"{(0.05 - gap) * 100:+.2f} points"))
    else:
        rows.append((f"eval within 5% of FedAvg's at round {equal_rounds}", m.label, NA, NA, NA))
    lora = eval_at_round(fedlora, equal_rounds) if fedlora else None
    if mine is not None and lora is not None:
        rows.append((f"eval below FedLoRA's at round {equal_rounds}", m.label, f"{fmt(mine)} vs {fmt(lora)}",
                     _verdict(mine < lora), f"{lora - mine:+.4f} nats"))
    else:
        rows.append((f"eval below FedLoRA's at round {equal_rounds}", m.label, NA, NA, NA))
    return rows


def plot(methods, folder: pathlib.Path, budget: float | None = None) -> list[pathlib.Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(8, 5))
    for m in methods:
        # Round 0 is the base model every method starts from, so the curves share their start.
        start = ([0], [m.initial_eval]) if m.initial_eval is not None else ([], [])
        ax.plot(np.concatenate([start[0], m.eval_rounds]), np.concatenate([start[1], m.eval_losses]), marker=".", label=m.label)
    ax.set(xlabel="round", ylabel="held-out eval loss (nats/token)", title="eval loss against rounds")
    ax.grid(alpha=0.3)
    ax.legend()
    paths.append(folder / "eval_vs_round.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 5))
    for m in methods:
        rows = {int(r): i for i, r in enumerate(m.row_rounds)}
        spent = np.array([m.cumulative_bytes[rows[int(r)]] for r in m.eval_rounds], dtype=np.float64)
        if spent.size and spent[-1] > 0:
            ax.plot(spent / 1e6, m.eval_losses, marker=".", label=m.label)
    ax.set_xscale("log")
    if budget is not None:
        ax.axvline(budget / 1e6, color="grey", linestyle=":", label="common byte budget")
    ax.set(xlabel="cumulative bytes down + up charged to clients (MB, log)", ylabel="held-out eval loss (nats/token)",
           title="eval loss against communication (methods that communicate)")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    paths.append(folder / "eval_vs_bytes.png")
    fig.savefig(paths[-1], dpi=120, bbox_inches="tight")
    plt.close(fig)
    return paths


def memory_section(runs) -> list[str]:
    """The peak client RSS of the memory-at-scale runs (jobs/memory-*.toml), with the RSS target on them."""
    if not runs:
        return []
    lines = ["## Memory at scale", "",
             "The fine-tuning model above is small, so a client rank's peak RSS is mostly the process's fixed cost "
             "(MPI, OpenBLAS, the Swift runtime, the tokenised corpus). `jobs/memory-*.toml` run one cycle of one-step "
             "rounds on a GPT-2-small-shaped model (12 × 768), where the model dominates; only the memory is of interest.",
             "", "| run | algorithm | parameters | peak client RSS | peak server RSS | of FedAvg's client RSS |",
             "|---|---|---|---|---|---|"]
    fedavg = next((m for m in runs if m.algorithm == "fedavg"), None)
    for m in runs:
        params = (runfiles.load_run(m.folder).summary or {}).get("parameter_count")
        ratio = m.peak_client_rss / fedavg.peak_client_rss if fedavg and fedavg.peak_client_rss and m.peak_client_rss else None
        lines.append(f"| {m.label} | {m.algorithm} | {NA if params is None else f'{int(params):,}'} | "
                     f"{fmt(m.peak_client_rss, 'bytes')} | {fmt(m.peak_server_rss, 'bytes')} | "
                     f"{NA if ratio is None else f'{ratio:.1%}'} |")
    return lines + [""]


def memory_target_rows(runs) -> list[tuple[str, str, str, str, str]]:
    fedavg = next((m for m in runs if m.algorithm == "fedavg"), None)
    rows = []
    for m in (m for m in runs if m.algorithm == "fedcybgd"):
        if fedavg is None or not fedavg.peak_client_rss or m.peak_client_rss is None:
            continue
        ratio = m.peak_client_rss / fedavg.peak_client_rss
        rows.append(("client peak RSS ≤ 50% of FedAvg's (GPT-2-small shape)", m.label, f"{ratio:.1%} of FedAvg's",
                     _verdict(ratio <= 0.5), f"{(0.5 - ratio) * 100:+.1f} points"))
    return rows


def report(methods, plots: list[pathlib.Path], out: pathlib.Path, memory=()) -> str:
    equal_rounds = min(m.rounds for m in methods)
    budget = common_budget(methods)
    lines = ["# Comparison of federated fine-tuning methods", "",
             "Generated by `make compare` (`scripts/compare.sh`), which trains `jobs/pretrain-base.toml`, fine-tunes it "
             "with every `jobs/compare-*.toml`, and runs `python3 analysis/compare_methods.py runs/compare-* --out docs`. "
             "Do not edit by hand: run `make compare` again.", "",
             f"Runs: {', '.join(str(m.folder) for m in methods)}. Equal rounds: {equal_rounds} (the fewest any run did). "
             f"Byte budget: {fmt(budget, 'bytes')}, the largest every federated run (fedcybgd, fedavg, fedlora) reached.", "",
             *method_table(methods, equal_rounds, budget), "",
             "Losses are held-out eval losses of the fine-tuning categories; \"at round R\" is the newest evaluation at or "
             "before R, \"at B bytes\" the newest evaluation whose cumulative bytes (down + up, charged to clients) stay "
             "within B. The equal-bytes target compares each FedCyBGD run with FedAvg at the smaller of their two totals. "
             "Centralized and BAdam runs have one client holding all the data: their bytes are what that client would "
             "exchange, shown for completeness. Wall time is the sum of "
             "the rounds' seconds. n/a: the run's files do not record the field.", "",
             "## Targets", "", "| target | method | measured | verdict | margin (positive: met by) |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in target_rows(methods, equal_rounds, budget) + memory_target_rows(memory)]
    lines += ["", "Why a target is met or missed, and what the numbers do and do not show: "
              "[docs/METHODS.md, Reading the comparison](METHODS.md#reading-the-comparison).", ""]
    lines += memory_section(memory)
    sweep = out / "comparison" / "lr_sweep.md"
    if sweep.is_file():
        # The learning rates come from scripts/compare-sweep.sh; its table is kept beside the plots.
        lines += ["## Learning rates", "", *sweep.read_text().splitlines()[2:], ""]
    lines += ["## Plots", ""]
    lines += [f"![{p.stem}]({p.relative_to(out).as_posix()})" for p in plots]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run folders, e.g. runs/compare-*")
    parser.add_argument("--out", default="docs", help="folder for COMPARISON.md and comparison/*.png")
    parser.add_argument("--memory", nargs="*", default=[], help="memory-at-scale run folders, e.g. runs/memory-*")
    args = parser.parse_args(argv)
    folders = [pathlib.Path(r) for r in args.runs if (pathlib.Path(r) / "history.h5").is_file()]
    if not folders:
        print(f"error: none of {' '.join(args.runs)} holds a history.h5; run scripts/compare.sh first", file=sys.stderr)
        return 2
    order = ["fedcybgd", "fedavg", "fedlora", "badam", "centralized"]
    # The method under study first, then the baselines, whatever order the shell globbed.
    methods = sorted((load_method(f) for f in folders),
                     key=lambda m: (order.index(m.algorithm) if m.algorithm in order else len(order), m.label))
    out = pathlib.Path(args.out)
    plots = plot(methods, out / "comparison", common_budget(methods))
    memory = [load_method(f) for f in (pathlib.Path(r) for r in args.memory) if (f / "history.h5").is_file()]
    (out / "COMPARISON.md").write_text(report(methods, plots, out, memory))
    print(f"wrote {out / 'COMPARISON.md'} and {len(plots)} plots in {out / 'comparison'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
