#!/usr/bin/env python3
"""PNG plots of one fedcybgd run folder (finished or still running).

    python3 analysis/plot_run.py runs/demo               # writes runs/demo/plots/*.png
    python3 analysis/plot_run.py runs/demo --out /tmp/p

Writes loss_vs_round.png, loss_vs_bytes.png, block_visits.png, bytes_per_client.png and
bytes_per_client.csv (the numbers of the bar chart); for instruction data also task_metrics.png
and task_metrics.csv (per task: validation loss, exact match and F1 at each evaluation).
docs/ANALYSIS.md explains each plot.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import runfiles  # noqa: E402

plt.rcParams.update({
    "font.size": 11, "axes.titlesize": 13, "axes.labelsize": 11, "legend.fontsize": 10,
    "figure.dpi": 110, "savefig.dpi": 110, "axes.grid": True, "grid.alpha": 0.3,
})
TRAIN_COLOUR, EVAL_COLOUR, INITIAL_COLOUR = "#4c72b0", "#dd5500", "#777777"


def run_title(run: runfiles.Run) -> str:
    status = "finished" if run.finished else "running (no /summary)"
    planned = run.planned_rounds
    rounds = f"{run.rows}/{planned}" if planned and planned != run.rows else f"{run.rows}"
    k, e = run.clients_per_round, run.local_steps
    return f"run {run.name}: {rounds} rounds, k={k}, E={e}, {status}"


def loss_label(run: runfiles.Run, column: str) -> str:
    return f"loss ({run.units(column)})"


def add_initial(ax, run: runfiles.Run):
    """The eval loss of the initial model: a dashed line, or only a legend entry when drawing it
    would squeeze the curves (it is usually far above every later loss)."""
    initial = run.initial_eval_loss()
    if initial is None or not np.isfinite(initial):
        return
    losses = np.concatenate([run.col("train_loss"), run.col("eval_loss")]).astype(np.float64)
    losses = losses[np.isfinite(losses)]
    low, high = (losses.min(), losses.max()) if losses.size else (initial, initial)
    if initial <= high + 0.25 * max(high - low, 1e-6):
        ax.axhline(initial, color=INITIAL_COLOUR, linestyle="--", linewidth=1,
                   label=f"eval loss before round 1 ({initial:.3f})")
        bottom, top = ax.get_ylim()
        ax.set_ylim(bottom, max(top, initial + 0.05 * (max(top, initial) - bottom)))
    else:
        ax.plot([], [], " ", label=f"eval loss before round 1: {initial:.3f} (above the plot)")


def add_resumes(ax, run: runfiles.Run, x_of_round=None):
    """Dotted vertical lines where the run was resumed (from the resume_log attribute)."""
    rounds = run.col("round")
    for i, r in enumerate(runfiles.resume_rounds(run)):
        if x_of_round is None:
            x = r + 0.5
        else:
            row = np.searchsorted(rounds, r)
            if row >= len(rounds):
                continue
            x = x_of_round[row]
        ax.axvline(x, color="#2ca02c", linestyle=":", linewidth=1.5,
                   label="resumed from a checkpoint" if i == 0 else None)


def plot_loss_vs_round(run: runfiles.Run, out: pathlib.Path) -> pathlib.Path:
    fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    rounds = run.col("round")
    ax.plot(rounds, run.col("train_loss"), color=TRAIN_COLOUR, linewidth=1, alpha=0.8, marker=".",
            markersize=3, label="train loss (clients' mean over their local steps)")
    rows, losses = runfiles.eval_points(run)
    ax.plot(rounds[rows], losses, color=EVAL_COLOUR, linewidth=2, marker="o", markersize=5,
            label="eval loss (held-out, after the round)")
    add_initial(ax, run)
    add_resumes(ax, run)
    ax.set_xlabel("round (each round trains one block on k clients)")
    ax.set_ylabel(loss_label(run, "train_loss"))
    ax.set_title(f"Loss per round — {run_title(run)}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    blocks_per_cycle = len(run.blocks) or None
    if blocks_per_cycle and run.rows:
        # Top axis: cycles (a cycle visits every block once).
        top = ax.secondary_xaxis("top", functions=(lambda r: r / blocks_per_cycle, lambda c: c * blocks_per_cycle))
        top.set_xlabel(f"cycles completed ({blocks_per_cycle} rounds each)")
        top.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best")
    path = out / "loss_vs_round.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_loss_vs_bytes(run: runfiles.Run, out: pathlib.Path) -> pathlib.Path:
    fig, ax = plt.subplots(figsize=(9, 5.5), layout="constrained")
    total = np.cumsum(run.col("bytes_down").astype(np.float64) + run.col("bytes_up").astype(np.float64))
    factor, unit = runfiles.scale_bytes(total)
    units = run.units("bytes_down")
    x = total / factor
    ax.plot(x, run.col("train_loss"), color=TRAIN_COLOUR, linewidth=1, alpha=0.8, marker=".", markersize=3,
            label="train loss")
    rows, losses = runfiles.eval_points(run)
    ax.plot(x[rows], losses, color=EVAL_COLOUR, linewidth=2, marker="o", markersize=5, label="eval loss")
    add_initial(ax, run)
    add_resumes(ax, run, x_of_round=x)
    if len(x) > 1 and x[-1] / max(x[0], 1e-12) > 20:
        ax.set_xscale("log")
        # Label 1-2-5 steps in plain numbers, not only the powers of ten.
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        scale = "log scale"
    else:
        scale = "linear scale"
    multiplier = "" if factor == 1 else f"; 1 {unit} = {factor:.0e} {units}".replace("e+0", "e")
    ax.set_xlabel(f"cumulative bytes charged to clients, bytes_down + bytes_up ({unit}{multiplier}; {scale})")
    ax.set_ylabel(loss_label(run, "train_loss"))
    ax.set_title(f"Loss against communication — {run_title(run)}")
    ax.legend(loc="best")
    path = out / "loss_vs_bytes.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def visit_grid(run: runfiles.Run, column: str) -> np.ndarray:
    """blocks × rounds, NaN where the block was not trained in that round."""
    first = int(run.col("round")[0]) if run.rows else 1
    last = int(run.col("round")[-1]) if run.rows else 0
    grid = np.full((len(run.blocks), max(last - first + 1, 1)), np.nan)
    for i, block in enumerate(run.blocks):
        if column not in block.columns:
            continue
        for r, value in zip(block.columns["round"].data, block.columns[column].data):
            if first <= r <= last:
                grid[i, int(r) - first] = value
    return grid


def plot_block_visits(run: runfiles.Run, out: pathlib.Path) -> pathlib.Path:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 2.2 + 0.55 * max(len(run.blocks), 2) * 2),
                                      sharex=True, layout="constrained")
    path = out / "block_visits.png"
    if not run.blocks or not run.rows:
        top.text(0.5, 0.5, "no /blocks/*/visits in history.h5", ha="center", va="center", transform=top.transAxes)
        fig.savefig(path)
        plt.close(fig)
        return path
    first, last = int(run.col("round")[0]), int(run.col("round")[-1])
    edges_x = np.arange(first - 0.5, last + 1.5)
    edges_y = np.arange(len(run.blocks) + 1) - 0.5
    names = [f"{b.index}: {b.name}" for b in run.blocks]

    norm = visit_grid(run, "update_norm")
    positive = norm[np.isfinite(norm) & (norm > 0)]
    cmap = matplotlib.colormaps["viridis"].copy()
    cmap.set_bad("#f2f2f2")
    if positive.size and positive.max() / positive.min() > 10:
        scale = mcolors.LogNorm(vmin=positive.min(), vmax=positive.max())
    else:
        scale = mcolors.Normalize(vmin=0, vmax=positive.max() if positive.size else 1)
    shown = np.where(norm > 0, norm, np.nan)
    mesh = top.pcolormesh(edges_x, edges_y, np.ma.masked_invalid(shown), cmap=cmap, norm=scale)
    zero = np.argwhere(norm == 0)
    if zero.size:
        top.scatter(zero[:, 1] + first, zero[:, 0], marker="x", color="red", s=50, linewidths=2)
        # Said under the panel rather than in a legend, which would cover cells.
        top.set_xlabel(f"red ×: {len(zero)} visit(s) installed nothing (every upload rejected)", color="red",
                       fontsize=10)
    units = run.blocks[0].columns["update_norm"].units
    bar = fig.colorbar(mesh, ax=top, label="update L2 norm" + (" (dimensionless)" if units in ("1", "") else f" ({units})"))
    if isinstance(scale, mcolors.LogNorm):
        # Plain numbers at 1-2-5 steps instead of 10^x labels.
        bar.ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        bar.ax.yaxis.set_minor_formatter(NullFormatter())
    top.set_title(f"Block visits: size of the installed update — {run_title(run)}")

    drop = visit_grid(run, "loss_before") - visit_grid(run, "loss_after")
    finite = drop[np.isfinite(drop)]
    # Clip the colour range at the 95th percentile of |drop|: the first visits' large drops would
    # otherwise wash out every later one (the colour bar's arrows mark the clipped ends).
    limit = float(np.percentile(np.abs(finite), 95)) if finite.size else 0.0
    limit = limit if limit > 0 else (float(np.abs(finite).max()) if finite.size and np.abs(finite).max() > 0 else 1.0)
    cmap2 = matplotlib.colormaps["RdBu"].copy()
    cmap2.set_bad("#f2f2f2")
    mesh2 = bottom.pcolormesh(edges_x, edges_y, np.ma.masked_invalid(drop), cmap=cmap2,
                              norm=mcolors.TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit))
    loss_units = run.blocks[0].columns["loss_before"].units
    clipped = finite.size and np.abs(finite).max() > limit
    fig.colorbar(mesh2, ax=bottom, label=f"loss drop ({loss_units})", extend="both" if clipped else "neither")
    bottom.set_title("Clients' loss at first local step − at last local step (blue: the visit lowered the loss)")
    bottom.set_xlabel("round (grey: block not trained in that round)")
    for ax in (top, bottom):
        ax.set_yticks(range(len(run.blocks)), names)
        ax.set_ylim(len(run.blocks) - 0.5, -0.5)
        ax.set_ylabel("block")
        ax.grid(False)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_bytes_per_client(run: runfiles.Run, out: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    split = runfiles.bytes_per_client(run)
    n = len(split.down)
    factor, unit = runfiles.scale_bytes(split.down + split.up)
    fig, ax = plt.subplots(figsize=(max(9, min(0.22 * n + 3, 20)), 6), layout="constrained")
    ids = np.arange(n)
    ax.bar(ids, split.down / factor, width=0.8, color="#4c72b0", label="downloaded (client_bytes_down)")
    ax.bar(ids, split.up / factor, width=0.8, bottom=split.down / factor, color="#dd8452",
           label="uploaded (client_bytes_up)")
    if n:
        mean = (split.down + split.up).mean() / factor
        ax.axhline(mean, color="black", linestyle="--", linewidth=1, label=f"mean {mean:.3g} {unit} per client")
    ax.set_xlabel("client" + ("" if split.clients_exact else " (count not known: largest id seen + 1)"))
    ax.set_ylabel(f"bytes charged ({unit}, 1 {unit} = {factor:.0e} {run.units('bytes_down')})".replace("e+0", "e"))
    ax.set_title(f"Bytes per client over the run — {run_title(run)}")
    if n <= 48:
        ax.set_xticks(ids)
        ax.tick_params(axis="x", labelsize=9 if n > 24 else 11)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=25))
    ax.set_xlim(-0.7, n - 0.3)
    ax.grid(axis="x", visible=False)
    # Headroom above the tallest bar for a one-line legend, so it never covers a bar.
    peak = float((split.down + split.up).max() / factor) if n else 1.0
    ax.set_ylim(0, peak * 1.15 if peak > 0 else 1.0)
    ax.legend(loc="upper center", ncols=3, framealpha=0.95)
    note = ("down: what the server charged each client for its download (its own delta sync) in each of the "
            f"{split.rounds} rounds; up: the bytes the server received from it, rejected uploads included")
    # A footnote line in a strip the layout keeps free at the bottom.
    fig.get_layout_engine().set(rect=(0, 0.05, 1, 0.95))
    fig.text(0.01, 0.01, note + ".", fontsize=9, color="#444444", ha="left", va="bottom", wrap=True)
    png = out / "bytes_per_client.png"
    fig.savefig(png)
    plt.close(fig)
    csv = out / "bytes_per_client.csv"
    with csv.open("w") as f:
        f.write("client,rounds_selected,bytes_down,bytes_up,bytes_total\n")
        for c in range(n):
            f.write(f"{c},{split.visits[c]},{split.down[c]:.1f},{split.up[c]:.1f},{split.down[c] + split.up[c]:.1f}\n")
    print(f"bytes_down per client: each client's own delta in {split.rounds} of {split.rounds} rounds "
          f"(/history/client_bytes_down); bytes_up per client from /history/client_bytes_up")
    return png, csv


def plot_task_metrics(run: runfiles.Run, out: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path] | None:
    """Instruction data: per task, the validation loss and the greedy answers' F1 at each
    evaluation (two panels), and the same numbers with exact match as a CSV; None for plain text."""
    if "eval_task_loss" not in run.history or not run.tasks:
        return None
    rounds = run.col("round")
    loss, exact, f1 = (run.col(name) for name in ("eval_task_loss", "eval_task_exact_match", "eval_task_f1"))
    rows = [i for i in range(run.rows) if np.isfinite(loss[i]).any()]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5), layout="constrained")
    colours = plt.get_cmap("tab10")
    for t, task in enumerate(run.tasks):
        colour = colours(t % 10)
        left.plot(rounds[rows], loss[rows, t], marker="o", markersize=4, color=colour, label=task)
        right.plot(rounds[rows], f1[rows, t], marker="o", markersize=4, color=colour, label=task)
    left.set_ylabel(f"validation response loss ({run.units('eval_task_loss')})")
    right.set_ylabel("token F1 of greedy answers (SQuAD)")
    right.set_ylim(-0.02, 1.02)
    for ax in (left, right):
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.legend(loc="best")
    fig.suptitle(f"Per task — {run_title(run)}")
    png = out / "task_metrics.png"
    fig.savefig(png)
    plt.close(fig)
    csv = out / "task_metrics.csv"
    with csv.open("w") as f:
        f.write("round,task,loss,exact_match,f1\n")
        for i in rows:
            for t, task in enumerate(run.tasks):
                f.write(f"{int(rounds[i])},{task},{loss[i, t]:.6g},{exact[i, t]:.6g},{f1[i, t]:.6g}\n")
    return png, csv


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="run folder holding history.h5 (e.g. runs/demo)")
    parser.add_argument("--out", help="folder for the PNGs (default: RUN/plots)")
    args = parser.parse_args(argv)
    run = runfiles.load_run(args.run)
    if run.rows == 0:
        print(f"{args.run}: history.h5 has no rounds yet", file=sys.stderr)
        return 1
    out = pathlib.Path(args.out) if args.out else run.folder / "plots"
    out.mkdir(parents=True, exist_ok=True)
    for path in (plot_loss_vs_round(run, out), plot_loss_vs_bytes(run, out), plot_block_visits(run, out),
                 *plot_bytes_per_client(run, out), *(plot_task_metrics(run, out) or ())):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
