"""analysis/plot_run.py and analysis/compare_runs.py on real runs, checked against what h5py reads."""
import os
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import BINARY, FORTUNES, ROOT, run_job

ANALYSIS = ROOT / "analysis"
PLOTS = ["loss_vs_round.png", "loss_vs_bytes.png", "block_visits.png", "bytes_per_client.png"]
ROUNDS, K, E, BATCH, SEQUENCE = 9, 2, 2, 4, 32  # conftest.TINY_JOB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# Three IID clients, one per round, four blocks: a client comes back before every block changed,
# so its downloads are deltas of different sizes, not always the whole model.
DELTA_JOB = """\
name = "delta"
output = "{output}"
seed = 5

[model]
layers = 2
width = 32
heads = 2

[data]
corpus = "{corpus}"
partition = "iid"
clients = 3

[train]
rounds = 14
clients_per_round = 1
local_steps = 2
batch = 4
sequence = 32
learning_rate = 3e-3
eval_batches = 2
threads = 1
"""


def script(name, *args, check=True):
    done = subprocess.run([sys.executable, str(ANALYSIS / name), *map(str, args)], capture_output=True, text=True,
                          timeout=300)
    if check:
        assert done.returncode == 0, f"{name} failed:\n{done.stdout}\n{done.stderr}"
    return done


def history(run):
    with h5py.File(run / "history.h5", "r", locking=False) as f:
        h = {name: ds[()] for name, ds in f["history"].items()}
        summary = dict(f["summary"].attrs) if "summary" in f else None
    return h, summary


def parse_table(markdown):
    """The rows of the first Markdown table, as {column: cell} dicts."""
    lines = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert set(lines[1].replace("|", "").replace("-", "").replace(":", "")) <= {""}, lines[1]
    return [dict(zip(header, (cell.strip() for cell in line.strip("|").split("|")))) for line in lines[2:]]


def number(cell):
    return float(cell.replace(",", ""))


def assert_nontrivial_png(path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image as mpimg

    assert path.is_file(), f"{path} missing"
    assert path.read_bytes()[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert path.stat().st_size > 20_000, f"{path} is suspiciously small ({path.stat().st_size} bytes)"
    image = mpimg.imread(path)
    height, width = image.shape[:2]
    assert 400 <= height <= 3000 and 600 <= width <= 3000, f"{path}: odd size {width}×{height}"
    pixels = (image[..., :3].reshape(-1, 3) * 255).round().astype(np.uint8)
    colours = np.unique(pixels, axis=0)
    assert len(colours) > 100, f"{path}: only {len(colours)} distinct colours"
    # Not a blank canvas: plenty of pixels differ from the most common (background) colour.
    _, counts = np.unique(pixels.view([("", np.uint8)] * 3), return_counts=True)
    background = counts.max() / counts.sum()
    assert background < 0.97, f"{path}: {background:.1%} of the pixels are one colour"


def read_csv(path):
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    return {column: np.array([float(line.split(",")[i]) for line in lines[1:]]) for i, column in enumerate(header)}


@pytest.fixture(scope="session")
def delta_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("delta")
    job = tmp / "delta.toml"
    job.write_text(DELTA_JOB.format(output=tmp / "runs", corpus=FORTUNES))
    done = subprocess.run([BINARY, "train", str(job)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"fedcybgd failed:\n{done.stdout}\n{done.stderr}"
    return tmp / "runs" / "delta"


def in_progress_copy(run, folder, rows):
    """A copy of the run's history.h5 as a running run would leave it: no /summary, `rows` rows."""
    folder.mkdir(parents=True)
    shutil.copy(run / "history.h5", folder / "history.h5")
    with h5py.File(folder / "history.h5", "a", locking=False) as f:
        del f["summary"]
        for ds in f["history"].values():
            ds.resize(rows, axis=0)
        # A reader that catches an append half done sees one column a row longer than the others.
        f["history/bytes_down"].resize(rows + 1, axis=0)
    return folder


def test_plot_run_writes_four_readable_pngs(single_rank_run, tmp_path):
    run, _ = single_rank_run
    done = script("plot_run.py", run, "--out", tmp_path / "plots")
    for name in PLOTS:
        assert str(tmp_path / "plots" / name) in done.stdout
        assert_nontrivial_png(tmp_path / "plots" / name)


def test_bytes_per_client_adds_up_to_the_history_totals(single_rank_run, tmp_path):
    run, _ = single_rank_run
    done = script("plot_run.py", run, "--out", tmp_path)
    assert f"own delta in {ROUNDS} of {ROUNDS} rounds" in done.stdout
    h, summary = history(run)
    table = read_csv(tmp_path / "bytes_per_client.csv")
    assert len(table["client"]) == summary["clients"]
    assert table["bytes_down"].sum() == pytest.approx(h["bytes_down"].sum(), abs=1)
    assert table["bytes_up"].sum() == pytest.approx(h["bytes_up"].sum(), abs=1)
    np.testing.assert_allclose(table["bytes_total"], table["bytes_down"] + table["bytes_up"], atol=0.2)
    selected = np.bincount(h["clients"][h["clients"] >= 0].ravel(), minlength=len(table["client"]))
    np.testing.assert_array_equal(table["rounds_selected"], selected)


def test_bytes_down_per_client_is_each_clients_own_delta_sync_charge(delta_run, tmp_path):
    done = script("plot_run.py", delta_run, "--out", tmp_path)
    assert "own delta in 14 of 14 rounds" in done.stdout
    h, _ = history(delta_run)
    table = read_csv(tmp_path / "bytes_per_client.csv")
    assert table["bytes_down"].sum() == h["bytes_down"].sum()
    # A client selected alone in a round is charged exactly that round's bytes_down.
    clients = h["clients"][:, 0]
    for c in range(3):
        assert table["bytes_down"][c] == h["bytes_down"][clients == c].sum()
    assert len(set(h["bytes_down"].tolist())) > 1, "the job should produce delta downloads of different sizes"
    assert_nontrivial_png(tmp_path / "bytes_per_client.png")


def test_plot_run_defaults_to_a_plots_folder_in_the_run(single_rank_run, tmp_path):
    run, _ = single_rank_run
    copy = tmp_path / "tiny"
    shutil.copytree(run, copy)
    script("plot_run.py", copy)
    for name in PLOTS:
        assert (copy / "plots" / name).is_file()


def test_compare_runs_table_equals_what_h5py_reads(single_rank_run, three_rank_run, tmp_path):
    runs = [single_rank_run[0], three_rank_run[0]]
    out = tmp_path / "table.md"
    script("compare_runs.py", *runs, "--out", out)
    rows = parse_table(out.read_text())
    assert len(rows) == 2
    for run, row in zip(runs, rows):
        h, summary = history(run)
        evaluated = h["eval_loss"][np.isfinite(h["eval_loss"])]
        assert row["run"] == run.name and row["status"] == "finished"
        assert int(row["rounds"]) == ROUNDS == summary["rounds"]
        assert int(row["clients"]) == summary["clients"]
        assert int(row["k"]) == K and int(row["E"]) == E
        assert number(row["final eval loss"]) == pytest.approx(summary["final_eval_loss"], abs=5e-5)
        assert number(row["final eval loss"]) == pytest.approx(h["eval_loss"][-1], abs=5e-5)
        assert number(row["best eval loss"]) == pytest.approx(evaluated.min(), abs=5e-5)
        assert number(row["bytes down"]) == summary["total_bytes_down"] == h["bytes_down"].sum()
        assert number(row["bytes up"]) == summary["total_bytes_up"] == h["bytes_up"].sum()
        per_client = (summary["total_bytes_down"] + summary["total_bytes_up"]) / summary["clients"]
        assert number(row["bytes/client (down+up)"]) == pytest.approx(per_client, abs=0.5)
        assert number(row["tokens trained"]) == summary["tokens_trained"] == ROUNDS * K * E * BATCH * SEQUENCE
        assert number(row["wall time (s)"]) == pytest.approx(h["seconds"].sum(), abs=0.005)
        assert number(row["rejected uploads"]) == h["rejected_uploads"].sum()
        assert number(row["bytes/client max"]) == summary["bytes_per_client_max"]
        assert number(row["peak client RSS (MB)"]) == pytest.approx(summary["peak_client_rss"] / 1e6, abs=0.05)
    # The same job on 1 and 3 ranks gives the same numbers (timing and memory aside).
    same = [column for column in rows[0] if column not in ("run", "wall time (s)", "peak client RSS (MB)")]
    assert [rows[0][c] for c in same] == [rows[1][c] for c in same]


def test_compare_runs_computes_a_running_run_from_history(single_rank_run, tmp_path):
    run, _ = single_rank_run
    rows_done = 6
    partial = in_progress_copy(run, tmp_path / "partial", rows_done)
    done = script("compare_runs.py", run, partial)
    finished, running = parse_table(done.stdout)
    assert finished["status"] == "finished" and running["status"] == "running"
    with h5py.File(partial / "history.h5", "r", locking=False) as f:
        assert "summary" not in f
        h = {name: ds[:rows_done] for name, ds in f["history"].items()}
    evaluated = h["eval_loss"][np.isfinite(h["eval_loss"])]
    assert running["rounds"] == f"{rows_done} of {ROUNDS}"
    assert number(running["final eval loss"]) == pytest.approx(evaluated[-1], abs=5e-5)
    assert number(running["best eval loss"]) == pytest.approx(evaluated.min(), abs=5e-5)
    assert number(running["bytes down"]) == h["bytes_down"].sum()
    assert number(running["bytes up"]) == h["bytes_up"].sum()
    assert number(running["tokens trained"]) == rows_done * K * E * BATCH * SEQUENCE
    assert number(running["wall time (s)"]) == pytest.approx(h["seconds"].sum(), abs=0.005)
    per_client = {}
    for clients, down, up in zip(h["clients"], h["client_bytes_down"], h["client_bytes_up"]):
        for client, d, u in zip(clients, down, up):
            per_client[client] = per_client.get(client, 0) + int(d) + int(u)
    assert number(running["bytes/client max"]) == max(per_client.values())
    assert number(running["peak client RSS (MB)"]) == pytest.approx(h["rank_peak_rss"].max() / 1e6, abs=0.05)
    assert running["k"] == str(K) and running["E"] == str(E)
    # No /summary and no checkpoint in the copy: the client count is a lower bound, and said so.
    assert running["clients"].startswith("≥")
    assert "client count unknown" in done.stdout
    # plot_run works on it too; it finds the block sizes from the history alone.
    plotted = script("plot_run.py", partial, "--out", tmp_path / "plots")
    assert f"own delta in {rows_done} of {rows_done} rounds" in plotted.stdout
    for name in PLOTS:
        assert_nontrivial_png(tmp_path / "plots" / name)


def test_scripts_read_a_history_that_a_writer_holds_locked(single_rank_run, tmp_path):
    run, _ = single_rank_run
    copy = tmp_path / "locked"
    shutil.copytree(run, copy)
    with h5py.File(copy / "history.h5", "a", locking=True):
        # A reader that locks fails while the writer holds the file ...
        locked = subprocess.run([sys.executable, "-c", f"import h5py; h5py.File({str(copy / 'history.h5')!r}, 'r')"],
                                capture_output=True, text=True, env={**os.environ, "HDF5_USE_FILE_LOCKING": "TRUE"})
        assert locked.returncode != 0 and "lock" in locked.stderr
        # ... the analysis scripts do not lock, so they still read it.
        table = parse_table(script("compare_runs.py", copy).stdout)
        assert table[0]["status"] == "finished"
        script("plot_run.py", copy, "--out", tmp_path / "plots")
    assert (tmp_path / "plots" / "block_visits.png").is_file()


def test_plot_run_marks_a_resumed_run_and_compare_counts_the_resume(tmp_path):
    tmp = tmp_path / "resumed"
    run, _ = run_job(tmp, None)
    job = tmp / "tiny.toml"
    # Resume from the final checkpoint with more rounds: the history gets a resume_log line.
    done = subprocess.run([BINARY, "train", str(job), "--resume", "--rounds", "12", "--force"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"resume failed:\n{done.stdout}\n{done.stderr}"
    with h5py.File(run / "history.h5", "r", locking=False) as f:
        assert "resume_log" in f.attrs
        assert f["history/round"].shape[0] == 12
    row = parse_table(script("compare_runs.py", run).stdout)[0]
    assert row["status"] == "finished, resumed 1×"
    assert row["rounds"] == "12"
    plotted = script("plot_run.py", run, "--out", tmp_path / "plots")
    assert "own delta in 12 of 12 rounds" in plotted.stdout
    assert_nontrivial_png(tmp_path / "plots" / "loss_vs_round.png")


def test_scripts_name_a_folder_without_history(tmp_path):
    for name in ("plot_run.py", "compare_runs.py"):
        done = script(name, tmp_path, check=False)
        assert done.returncode != 0 and "no history.h5" in done.stderr


def test_plot_run_tabulates_and_plots_the_per_task_metrics(tmp_path):
    """An instruction run: task_metrics.csv holds, per evaluated round and task, the values h5py
    reads from the per-task columns; plain-text runs get no such files."""
    import test_instruct_eval as tie
    run = tie.train(tmp_path / "instruct")
    done = script("plot_run.py", run, "--out", tmp_path / "plots")
    png, csv = tmp_path / "plots" / "task_metrics.png", tmp_path / "plots" / "task_metrics.csv"
    assert str(png) in done.stdout and str(csv) in done.stdout
    assert_nontrivial_png(png)
    h, _ = history(run)
    with h5py.File(run / "history.h5", "r", locking=False) as f:
        tasks = f["history"].attrs["tasks"].split("\n")
    lines = csv.read_text().splitlines()
    assert lines[0] == "round,task,loss,exact_match,f1"
    evaluated = [i for i in range(len(h["round"])) if not np.isnan(h["eval_loss"][i])]
    assert len(lines) - 1 == len(evaluated) * len(tasks)
    for line, (i, t) in zip(lines[1:], [(i, t) for i in evaluated for t in range(len(tasks))]):
        round_number, task, loss, exact, f1 = line.split(",")
        assert (int(round_number), task) == (h["round"][i], tasks[t])
        assert float(loss) == pytest.approx(h["eval_task_loss"][i][t], rel=1e-5)
        assert float(exact) == pytest.approx(h["eval_task_exact_match"][i][t], abs=1e-6, nan_ok=True)
        assert float(f1) == pytest.approx(h["eval_task_f1"][i][t], abs=1e-6, nan_ok=True)


def test_plot_run_writes_no_task_metrics_for_plain_text(single_rank_run, tmp_path):
    run, _ = single_rank_run
    done = script("plot_run.py", run, "--out", tmp_path)
    assert "task_metrics" not in done.stdout and not (tmp_path / "task_metrics.csv").exists()
