"""The reproduction pipeline (`make reproduce`): scripts/reproduce.py at --scale smoke runs every
stage for real (BPE, pretraining, the sweep with its grid extension, seeds, the int8 pair), and
analysis/reproduce_report.py writes the document. These tests read the run files back with h5py
and check what the document's verdicts rest on: equal work, equal tuning, equal codecs, the
noise rule and the upload sizes."""
import json
import math
import os
import pathlib
import re
import subprocess
import sys
import tomllib

import h5py
import numpy as np
import pytest

from conftest import BINARY, ROOT

sys.path.insert(0, str(ROOT / "analysis"))
import reproduction as rp  # noqa: E402

# The keys a method, a rate or a seed may change in the fine-tuning job; all else must be equal.
ALLOWED = {("name",), ("seed",), ("train", "algorithm"), ("train", "block_order"), ("train", "learning_rate"),
           ("train", "local_steps"), ("download", "codec"), ("upload", "codec"),
           ("lora", "rank"), ("lora", "alpha")}  # fedlora's job states its adapter defaults


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    if not os.access(BINARY, os.X_OK):
        pytest.skip(f"no fedcybgd binary at {BINARY}")
    runs = tmp_path_factory.mktemp("reproduce") / "runs"
    env = dict(os.environ, FEDCYBGD_BIN=BINARY)
    subprocess.run([sys.executable, str(ROOT / "scripts/reproduce.py"), "--scale", "smoke", "--runs", str(runs)],
                   check=True, env=env, cwd=ROOT, capture_output=True, text=True)
    out = runs.parent / "docs"
    out.mkdir()
    subprocess.run([sys.executable, str(ROOT / "analysis/reproduce_report.py"), str(runs), "--out", str(out)],
                   check=True, cwd=ROOT, capture_output=True, text=True)
    return runs, out


def job_of(folder: pathlib.Path) -> dict:
    with h5py.File(folder / "history.h5", "r", locking=False) as f:
        return tomllib.loads(f.attrs["job"])


def summary(folder: pathlib.Path, key: str) -> float:
    with h5py.File(folder / "history.h5", "r", locking=False) as f:
        return float(f["summary"].attrs[key])


def flat(job: dict, prefix=()) -> dict:
    out = {}
    for key, value in job.items():
        out |= flat(value, prefix + (key,)) if isinstance(value, dict) else {prefix + (key,): value}
    return out


def test_verdict_follows_twice_the_combined_standard_deviation():
    a, b = rp.Estimate([1.0, 1.2, 1.1]), rp.Estimate([2.0, 2.2, 2.1])
    assert rp.verdict(a, b, lower_is_better=True)[0] == "met"
    assert rp.verdict(b, a, lower_is_better=True)[0] == "missed"
    assert rp.verdict(b, a, lower_is_better=False)[0] == "met"
    # A difference of 0.15 against a combined std of sqrt(2)·0.1: 2σ is 0.283, so within noise.
    near = rp.Estimate([1.15, 1.25, 1.35])
    outcome, difference, noise = rp.verdict(a, near, lower_is_better=True)
    assert outcome == "within noise"
    assert difference == pytest.approx(0.15) and noise == pytest.approx(2 * math.sqrt(0.02))
    # One seed gives no noise estimate: never a verdict.
    assert rp.verdict(rp.Estimate([1.0]), rp.Estimate([5.0]), True)[0] == "within noise"


def test_every_method_gets_the_same_work_and_only_its_own_keys(smoke):
    runs, _ = smoke
    record = json.loads((runs / "reproduction.json").read_text())
    reference = flat(job_of(runs / rp.run_name("fedcybgd", record["chosen_rates"]["fedcybgd"], 1)))
    k, e = reference[("train", "clients_per_round")], reference[("train", "local_steps")]
    folders = [p for p in runs.iterdir() if "-lr" in p.name]
    assert len(folders) >= 2 * len(record["methods"]) + 2 * len(record["codec_variants"])
    for folder in folders:
        job = flat(job_of(folder))
        differing = {key for key in reference.keys() | job.keys() if reference.get(key) != job.get(key)}
        assert differing <= ALLOWED, f"{folder.name} differs in {differing - ALLOWED}"
        pooled = job.get(("train", "algorithm")) in ("centralized", "badam")
        assert job[("train", "local_steps")] == (k * e if pooled else e), folder.name


def test_the_chosen_rate_is_the_best_validation_loss_inside_the_grid_or_the_grid_was_extended(smoke):
    runs, _ = smoke
    record = json.loads((runs / "reproduction.json").read_text())
    for method, chosen in record["chosen_rates"].items():
        losses = {float(p.name[len(method) + 3:-6]): summary(p, "final_eval_loss")
                  for p in runs.glob(f"{method}-lr*-seed1")}
        assert chosen == min(losses, key=lambda r: (losses[r], r)), method
        if chosen in (min(losses), max(losses)):
            assert len(losses) == 3, f"{method}'s optimum is at an edge but its grid was not extended"
        else:
            assert len(losses) in (2, 3)


def test_codec_pairs_share_codecs_and_rates(smoke):
    runs, _ = smoke
    record = json.loads((runs / "reproduction.json").read_text())
    jobs = {}
    for variant, base in record["codec_variants"].items():
        rate = record["chosen_rates"][base]
        for seed in record["seeds"]:
            job = job_of(runs / rp.run_name(variant, rate, seed))
            jobs.setdefault(variant, job)
            assert job["train"]["learning_rate"] == rate
    codecs = {(j.get("download", {}).get("codec"), j.get("upload", {}).get("codec")) for j in jobs.values()}
    assert codecs == {("int8", "int8")}


def test_uploads_are_one_block_in_its_own_encoding(smoke):
    """Recomputes, from the checkpoint's tensors, each block's int8 size (a byte a value, a
    4-byte scale a row) and checks every upload of the int8 run against it."""
    runs, _ = smoke
    record = json.loads((runs / "reproduction.json").read_text())
    folder = runs / rp.run_name("fedcybgd-int8", record["chosen_rates"]["fedcybgd"], 1)
    checkpoint = sorted(folder.glob("checkpoint-*.h5"))[-1]
    size = {}
    with h5py.File(checkpoint, "r", locking=False) as f:
        for tensor in f["model"].values():
            n = int(np.prod(tensor.shape))
            size[int(tensor.attrs["block"])] = size.get(int(tensor.attrs["block"]), 0) + n + 4 * (n // tensor.shape[-1])
    with h5py.File(folder / "history.h5", "r", locking=False) as f:
        blocks, uploads = f["history/block"][()], f["history/client_bytes_up"][()]
    for block, row in zip(blocks, uploads):
        assert set(row[row >= 0].tolist()) == {size[int(block)] + 48}


def test_the_report_states_the_verdict_the_run_files_give(smoke):
    runs, docs = smoke
    record = json.loads((runs / "reproduction.json").read_text())
    text = (docs / "REPRODUCTION.md").read_text()

    def losses(method):
        base = record["codec_variants"].get(method, method)
        return rp.Estimate([summary(runs / rp.run_name(method, record["chosen_rates"][base], s), "test_loss")
                            for s in record["seeds"]])

    for claim, ours, theirs in (("at most FedAvg's (equal work)", "fedcybgd", "fedavg"),
                                ("below FedLoRA's", "fedcybgd", "fedlora"),
                                ("competitive with centralized", "fedcybgd", "centralized")):
        row = next(line for line in text.splitlines() if line.startswith("| ") and claim in line)
        a, b = losses(ours), losses(theirs)
        expected = rp.verdict(a, b, lower_is_better=True)[0]
        assert f"{a.mean:.4f} ± {a.std:.4f} vs {b.mean:.4f} ± {b.std:.4f}" in row
        assert row.rstrip(" |").endswith((f"**{expected}**", expected)), row
    for plot in ("loss.png", "task_loss.png"):
        assert (docs / "reproduction" / plot).stat().st_size > 10_000
    assert not re.search(r"\bnan\b", text), "a figure the runs should give is missing"


def test_a_second_pass_trains_nothing(smoke):
    runs, _ = smoke
    before = json.loads((runs / "timings.json").read_text())
    done = subprocess.run([sys.executable, str(ROOT / "scripts/reproduce.py"), "--scale", "smoke", "--runs", str(runs)],
                          check=True, cwd=ROOT, capture_output=True, text=True,
                          env=dict(os.environ, FEDCYBGD_BIN=BINARY)).stdout
    assert "done already" in done and json.loads((runs / "timings.json").read_text()) == before
