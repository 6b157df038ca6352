#!/usr/bin/env python3
"""A Markdown table comparing fedcybgd runs, finished or still running.

    python3 analysis/compare_runs.py runs/demo runs/other            # prints the table
    python3 analysis/compare_runs.py runs/* --out comparison.md

A finished run's totals come from history.h5's /summary. A run without /summary (still going,
or stopped early) is marked "running" and its totals are computed from /history. The notes under
the table say where each figure comes from; docs/ANALYSIS.md has the details.
"""
from __future__ import annotations

import argparse
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import runfiles  # noqa: E402

COLUMNS = ["run", "status", "rounds", "clients", "k", "E", "final eval loss", "best eval loss",
           "bytes down", "bytes up", "bytes/client (down+up)", "bytes/client max", "peak client RSS (MB)",
           "tokens trained", "wall time (s)", "rejected uploads"]


def fmt_int(value) -> str:
    return "—" if value is None else f"{int(value):,}"


def fmt_loss(value) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.4f}"


def row_of(run: runfiles.Run) -> tuple[list[str], list[str]]:
    """The table cells of one run, and notes about figures that are estimates."""
    notes = []
    rows = run.rows
    rounds_done = int(run.col("round")[-1]) if rows else 0
    history_down = int(run.col("bytes_down").sum())
    history_up = int(run.col("bytes_up").sum())
    _, eval_losses = runfiles.eval_points(run)
    last_eval = float(eval_losses[-1]) if eval_losses.size else None
    best_eval = float(eval_losses.min()) if eval_losses.size else None

    if run.finished:
        s = run.summary
        status = "finished"
        rounds = str(int(s.get("rounds", rounds_done)))
        final_eval = float(s["final_eval_loss"]) if "final_eval_loss" in s else last_eval
        down = int(s.get("total_bytes_down", history_down))
        up = int(s.get("total_bytes_up", history_up))
        if down != history_down or up != history_up:
            notes.append(f"{run.name}: /summary byte totals ({down:,} down, {up:,} up) differ from the sum of "
                         f"/history ({history_down:,}, {history_up:,})")
        if int(s.get("rounds", rounds_done)) != rows:
            notes.append(f"{run.name}: /summary says {s.get('rounds')} rounds but /history has {rows} rows")
    else:
        status = "running"
        planned = run.planned_rounds
        rounds = f"{rounds_done} of {planned}" if planned else str(rounds_done)
        final_eval = last_eval
        down, up = history_down, history_up
        if last_eval is not None and rows and not np.isfinite(run.col("eval_loss")[-1]):
            notes.append(f"{run.name}: final eval loss is the latest evaluation so far")
    if "resume_log" in run.attrs and run.attrs["resume_log"]:
        resumes = len([line for line in str(run.attrs["resume_log"]).splitlines() if line.strip()])
        status += f", resumed {resumes}×"

    clients, exact = run.client_count()
    clients_cell = str(clients) if exact else f"≥{clients}"
    if not exact:
        notes.append(f"{run.name}: client count unknown (no /summary, no checkpoint); bytes/client divides "
                     f"by the {clients} clients up to the largest id seen")
    per_client = (down + up) / clients if clients else None

    measured = runfiles.measured_bytes_per_client(run)
    client_rss, _ = runfiles.peak_rss(run)
    if run.finished and "bytes_per_client_max" in run.summary:
        per_client_max = int(run.summary["bytes_per_client_max"])
        client_rss = int(run.summary["peak_client_rss"]) if run.summary["peak_client_rss"] >= 0 else None
    else:
        per_client_max = max(measured.values()) if measured else None

    tokens, source = runfiles.tokens_trained(run)
    if source == "job":
        notes.append(f"{run.name}: tokens trained = accepted uploads × local_steps × batch × sequence of the job")

    wall = float(run.col("seconds").sum())
    rejected = int(run.col("rejected_uploads").sum()) if "rejected_uploads" in run.history else None
    cells = [run.name, status, rounds, clients_cell, fmt_int(run.clients_per_round), fmt_int(run.local_steps),
             fmt_loss(final_eval), fmt_loss(best_eval), fmt_int(down), fmt_int(up),
             "—" if per_client is None else f"{per_client:,.0f}", fmt_int(per_client_max),
             "—" if client_rss is None else f"{client_rss / 1e6:.1f}", fmt_int(tokens), f"{wall:.2f}",
             fmt_int(rejected)]
    return cells, notes


def table(folders) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|"]
    notes = []
    units = None
    for folder in folders:
        run = runfiles.load_run(folder)
        if run.rows == 0:
            notes.append(f"{run.name}: history.h5 has no rounds yet")
            continue
        units = units or run.units("eval_loss")
        cells, run_notes = row_of(run)
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
        notes.extend(run_notes)
    legend = [
        "",
        f"Losses in {units or 'nats/byte'} (held-out cross-entropy); final = /summary final_eval_loss, or the "
        "newest evaluation of a running run; best = lowest eval_loss in /history. Bytes are the totals charged to "
        "the clients (bytes_down + bytes_up of /history, or /summary's totals); bytes/client divides their sum by "
        "the number of clients; bytes/client max is the largest client's down + up (/summary "
        "bytes_per_client_max, or the sum of /history client_bytes_down + client_bytes_up). Peak client RSS is the "
        "largest measured peak resident set size of a rank hosting clients (/summary peak_client_rss, or "
        "/history rank_peak_rss); — where a run predates these measurements. Wall time is the sum of /history/seconds (rounds only: not the initial "
        "evaluation, start-up or checkpoint writing). Rejected uploads: sum of /history/rejected_uploads. "
        "\"running\": no /summary, so the run is still going or was stopped early.",
    ]
    if notes:
        legend += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines + legend) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="run folders holding history.h5")
    parser.add_argument("--out", help="write the Markdown here instead of printing it")
    args = parser.parse_args(argv)
    text = table(args.runs)
    if args.out:
        pathlib.Path(args.out).write_text(text)
        print(args.out)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
