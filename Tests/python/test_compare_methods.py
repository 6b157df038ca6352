"""analysis/compare_methods.py on real runs of the tiny job: the table's numbers equal what h5py
reads, the targets follow from them, and fields older files lack show n/a instead of failing."""
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np
import pytest

from conftest import BINARY, FORTUNES, ROOT, TINY_JOB

SCRIPT = ROOT / "analysis/compare_methods.py"


@pytest.fixture(scope="module")
def runs(single_rank_run, tmp_path_factory):
    """compare-fedcybgd (the tiny run) and compare-fedavg (the same job at another learning
    rate, labelled fedavg the way the engine's `algorithm` attribute labels it)."""
    tmp = tmp_path_factory.mktemp("methods")
    shutil.copytree(single_rank_run[0], tmp / "compare-fedcybgd")
    job = tmp / "other.toml"
    job.write_text(TINY_JOB.format(output=tmp / "made", corpus=FORTUNES).replace("3e-3", "1e-2"))
    done = subprocess.run([BINARY, "train", str(job)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    shutil.copytree(tmp / "made/tiny", tmp / "compare-fedavg")
    with h5py.File(tmp / "compare-fedavg/history.h5", "r+") as f:
        f.attrs["algorithm"] = "fedavg"
    return tmp


def compare(tmp, *names):
    out = tmp / f"out-{'-'.join(names)}"
    done = subprocess.run([sys.executable, str(SCRIPT), *[str(tmp / n) for n in names], "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return out, (out / "COMPARISON.md").read_text()


def table_rows(text, header_start):
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def h5_numbers(folder):
    with h5py.File(folder / "history.h5", "r", locking=False) as f:
        history = {name: f["history"][name][()] for name in ("round", "eval_loss", "bytes_down", "bytes_up", "seconds")}
        summary = dict(f["summary"].attrs) if "summary" in f else {}
    return history, summary


def test_table_equals_the_files(runs):
    out, text = compare(runs, "compare-fedcybgd", "compare-fedavg")
    rows = {row[0]: row for row in table_rows(text, "| method |")}
    assert set(rows) == {"fedcybgd", "fedavg"}
    budgets = []
    for name in rows:
        history, summary = h5_numbers(runs / f"compare-{name}")
        budgets.append(int((history["bytes_down"] + history["bytes_up"]).sum()))
    budget = min(budgets)
    for name, row in rows.items():
        history, summary = h5_numbers(runs / f"compare-{name}")
        assert row[1] == name
        assert row[2] == ("lr 0.003" if name == "fedcybgd" else "lr 0.01")
        assert row[3] == str(int(history["round"][-1]))
        finite = history["eval_loss"][np.isfinite(history["eval_loss"])]
        assert row[4] == f"{finite[-1]:.4f}" == f"{summary['final_eval_loss']:.4f}"
        spent = np.cumsum(history["bytes_down"] + history["bytes_up"])
        at_budget = [loss for loss, used in zip(history["eval_loss"], spent) if np.isfinite(loss) and used <= budget]
        assert row[5] == f"{at_budget[-1]:.4f}"
        total = int(summary["total_bytes_down"]) + int(summary["total_bytes_up"])
        assert row[6] == f"{total / 1e6:.2f} MB"
        mean, largest = summary["bytes_per_client_mean"], summary["bytes_per_client_max"]
        assert row[7] == f"{size(mean)} / {size(largest)}"
        assert row[9] == size(summary["peak_client_rss"]) and row[10] == size(summary["peak_server_rss"])
        assert row[11] == f"{history['seconds'].sum():.1f} s"
    assert (out / "comparison/eval_vs_round.png").stat().st_size > 10_000
    assert (out / "comparison/eval_vs_bytes.png").stat().st_size > 10_000


def size(value) -> str:
    """A byte count as the table prints it."""
    value = float(value)
    return f"{value / 1e6:.2f} MB" if value >= 1e6 else f"{value / 1e3:.2f} kB"


def test_targets_follow_from_the_numbers(runs):
    _, text = compare(runs, "compare-fedcybgd", "compare-fedavg")
    targets = table_rows(text, "| target |")
    assert all(row[1] == "fedcybgd" for row in targets)
    mine, theirs = h5_numbers(runs / "compare-fedcybgd")[1], h5_numbers(runs / "compare-fedavg")[1]
    a, b = float(mine["final_eval_loss"]), float(theirs["final_eval_loss"])
    within = next(row for row in targets if row[0].startswith("eval within 5%"))
    gap = (a - b) / b
    assert within[2] == f"{gap:+.2%} vs FedAvg"
    assert within[3] == ("met" if gap <= 0.05 else "**missed**")
    assert within[4] == f"{(0.05 - gap) * 100:+.2f} points"
    upload = next(row for row in targets if row[0].startswith("upload per round"))
    assert upload[3] == "met"  # fp32 uploads of one block each
    rss = next(row for row in targets if row[0].startswith("client peak RSS"))
    ratio = float(mine["peak_client_rss"]) / float(theirs["peak_client_rss"])
    assert rss[2:] == [f"{ratio:.1%} of FedAvg's", "met" if ratio <= 0.5 else "**missed**", f"{(0.5 - ratio) * 100:+.1f} points"]
    lora = next(row for row in targets if "FedLoRA" in row[0])
    assert lora[2:] == ["n/a", "n/a", "n/a"]  # no fedlora run given


def test_new_fields_are_used_when_present(runs, tmp_path):
    for name, rss in (("compare-fedcybgd", 40e6), ("compare-fedavg", 100e6)):
        shutil.copytree(runs / name, tmp_path / name)
        with h5py.File(tmp_path / name / "history.h5", "r+") as f:
            rounds = len(f["history/round"])
            f["summary"].attrs["peak_client_rss"] = rss
            f["summary"].attrs["bytes_per_client_mean"] = 1234.0
            f["summary"].attrs["bytes_per_client_max"] = 5678.0
            up = np.full((rounds, 2), -1, dtype=np.int64)
            up[:, 0] = 1000
            del f["history/client_bytes_up"]
            f["history"].create_dataset("client_bytes_up", data=up)
    _, text = compare(tmp_path, "compare-fedcybgd", "compare-fedavg")
    rows = {row[0]: row for row in table_rows(text, "| method |")}
    assert rows["fedcybgd"][7] == "1.23 kB / 5.68 kB"
    assert rows["fedcybgd"][8] == "1.00 kB"  # the -1 padding is not an upload
    assert rows["fedcybgd"][9] == "40.00 MB" and rows["fedavg"][9] == "100.00 MB"
    rss = next(row for row in table_rows(text, "| target |") if row[0].startswith("client peak RSS"))
    assert rss[2:] == ["40.0% of FedAvg's", "met", "+10.0 points"]


def test_missing_summary_and_evaluations_show_na(runs, tmp_path):
    shutil.copytree(runs / "compare-fedcybgd", tmp_path / "compare-bare")
    with h5py.File(tmp_path / "compare-bare/history.h5", "r+") as f:
        del f["summary"]
        f["history/eval_loss"][...] = np.nan
    for checkpoint in (tmp_path / "compare-bare").glob("checkpoint-*.h5"):
        checkpoint.unlink()
    _, text = compare(tmp_path, "compare-bare")
    row = table_rows(text, "| method |")[0]
    assert row[0] == "bare" and row[4] == "n/a" and row[9] == "n/a"
    assert all(cell == "n/a" for cell in table_rows(text, "| target |")[0][2:])
