"""The baselines, codecs and layer dropping under real mpirun, read back with h5py."""
import pathlib
import subprocess

import h5py
import numpy as np
import pytest

from conftest import BINARY, FORTUNES, ROOT, TINY_JOB

LAYERS, WIDTH, HEADS = 2, 32, 2
HEADER = 48  # UploadHeader.encodedSize


def write_job(tmp: pathlib.Path, name: str, extra: str, train: str = "") -> pathlib.Path:
    tmp.mkdir(parents=True, exist_ok=True)
    text = TINY_JOB.format(output=tmp / "runs", corpus=FORTUNES).replace('name = "tiny"', f'name = "{name}"')
    text = text.replace("threads = 1\n", "threads = 1\ncheckpoint_every = 4\n" + train) + extra
    job = tmp / f"{name}.toml"
    job.write_text(text)
    return job


def train(job: pathlib.Path, ranks: int | None, *flags: str, timeout: int = 600) -> subprocess.CompletedProcess:
    command = [BINARY, "train", str(job), *flags]
    if ranks is not None:
        command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks)] + command
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def block_sizes() -> list[int]:
    """Values per block of the tiny model: embeddings, each layer, final norm."""
    c = WIDTH
    return [256 * c + 32 * c] + [12 * c * c + 13 * c] * LAYERS + [2 * c]


def final_model(folder: pathlib.Path) -> dict[str, np.ndarray]:
    newest = sorted(folder.glob("checkpoint-*.h5"))[-1]
    with h5py.File(newest, "r") as f:
        return {name: f["model"][name][()] for name in f["model"]}


@pytest.mark.parametrize("algorithm", ["fedavg", "fedlora", "centralized", "badam"])
def test_each_baseline_runs_under_mpirun_and_sends_what_it_trains(tmp_path, algorithm):
    job = write_job(tmp_path, algorithm, "\n[lora]\nrank = 4\nalpha = 8\n" if algorithm == "fedlora" else "",
                    f'algorithm = "{algorithm}"\n')
    done = train(job, 3)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"method: {algorithm}," in done.stdout
    with h5py.File(tmp_path / "runs" / algorithm / "history.h5", "r") as f:
        h = f["history"]
        blocks = h["block"][()]
        clients = h["clients"][()]
        up = h["bytes_up"][()]
        evals = h["eval_loss"][()]
        has_visits = "blocks" in f and len(f["blocks"]) > 0
    pooled = algorithm in ("centralized", "badam")
    if pooled:
        assert (clients[:, 0] == 0).all() and (clients[:, 1:] == -1).all(), "one client holding all data"
    k = 1 if pooled else 2
    total = sum(block_sizes())
    if algorithm == "badam":
        assert list(blocks[:4]) == [0, 1, 2, 3] and has_visits
        assert list(up) == [k * (4 * block_sizes()[b] + HEADER) for b in blocks]
    else:
        assert (blocks == -1).all() and not has_visits
        per = 4 * (16 * WIDTH * 4 * LAYERS) if algorithm == "fedlora" else 4 * total
        assert (up == k * (per + HEADER)).all()
    finite = evals[~np.isnan(evals)]
    assert finite[-1] < 5.5, "training lowered the loss from ln 256"
    checkpoint = sorted((tmp_path / "runs" / algorithm).glob("checkpoint-*.h5"))[-1]
    with h5py.File(checkpoint, "r") as f:
        assert ("lora_adapters" in f["state"]) == (algorithm == "fedlora")
        assert f["state"]["client_unit_version"].shape[1] == LAYERS + 2 + (algorithm == "fedlora")


def test_codecs_and_dropping_give_the_same_model_on_one_rank_and_three(tmp_path):
    extra = '\n[download]\ncodec = "int8"\ndrop_fraction = 0.5\ndrop_rule = "far"\n[upload]\ncodec = "int8"\n'
    one = write_job(tmp_path / "one", "coded", extra)
    three = write_job(tmp_path / "three", "coded", extra)
    for job, ranks in ((one, None), (three, 3)):
        done = train(job, ranks)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "method: fedcybgd, download int8 (trained units exact fp32), dropping 0.5 of the frozen layers (far), upload int8" in done.stdout
    a, b = final_model(tmp_path / "one/runs/coded"), final_model(tmp_path / "three/runs/coded")
    assert all(np.array_equal(a[k].view(np.uint32), b[k].view(np.uint32)) for k in a)
    with h5py.File(tmp_path / "three/runs/coded/history.h5", "r") as f:
        h = f["history"]
        up, blocks, down = h["bytes_up"][()], h["block"][()], h["bytes_down"][()]
    sizes = block_sizes()
    # int8 upload of a block: one byte a value plus a float scale per row of each tensor.
    rows = {0: 256 + 32, 1: 7 * WIDTH + 8, LAYERS + 1: 2}
    for r, b in enumerate(blocks):
        rows_b = rows[min(b, 1) if b <= LAYERS else LAYERS + 1]
        assert up[r] == 2 * (sizes[b] + 4 * rows_b + HEADER)
    # Round 1: both clients are new and pay for the compressed model with the trained block exact,
    # without the layer dropped this round (1 of the 2 layers is frozen when an edge block trains).
    assert down[0] < 2 * 4 * sum(sizes) * 0.5


def test_fedlora_resume_equals_the_uninterrupted_run(tmp_path):
    extra = "\n[lora]\nrank = 4\nalpha = 8\n"
    whole = write_job(tmp_path / "whole", "lora", extra, 'algorithm = "fedlora"\n')
    part = write_job(tmp_path / "part", "lora", extra, 'algorithm = "fedlora"\n')
    assert train(whole, 3).returncode == 0
    first = train(part, 3, "--rounds", "4")
    assert first.returncode == 0, first.stdout + first.stderr
    second = train(part, 3, "--resume")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "resumed from" in second.stdout
    a, b = final_model(tmp_path / "whole/runs/lora"), final_model(tmp_path / "part/runs/lora")
    assert all(np.array_equal(a[k].view(np.uint32), b[k].view(np.uint32)) for k in a)
    # inspect reads the job as last run (9 rounds), not as first started (--rounds 4).
    shown = subprocess.run([BINARY, "inspect", str(tmp_path / "part/runs/lora")], capture_output=True, text=True)
    assert "last round 9 of 9," in shown.stdout, shown.stdout


@pytest.mark.parametrize("extra, train_keys, message", [
    ("\n[download]\ndrop_fraction = 0.5\n", 'algorithm = "fedavg"\n', "download.drop_fraction"),
    ("", 'algorithm = "fedsgd"\n', "train.algorithm"),
    ('\n[upload]\ncodec = "bf16"\n', "", "upload.codec"),
    ('\n[download]\ncodec = "prune:1.5"\n', "", "download.codec"),
    ("\n[download]\ndrop_fraction = 1.0\n", "", "download.drop_fraction"),
    ("\n[lora]\nrank = 0\n", 'algorithm = "fedlora"\n', "lora.rank"),
    ("", "clients_per_block = 2\n", "clients_per_block"),
])
def test_bad_method_keys_get_one_line_naming_the_key(tmp_path, extra, train_keys, message):
    job = write_job(tmp_path, "bad", extra, train_keys)
    done = train(job, None)
    assert done.returncode != 0
    lines = [line for line in done.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert not (tmp_path / "runs" / "bad").exists() or not list((tmp_path / "runs" / "bad").glob("*.h5"))


def test_resuming_a_finished_run_under_mpirun_says_so_and_every_rank_exits(tmp_path):
    job = write_job(tmp_path, "finished", "")
    assert train(job, 3).returncode == 0
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs/finished").glob("checkpoint-*.h5")}
    again = train(job, 3, "--resume", timeout=120)  # the client ranks used to wait for a first round forever
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already completed 9 of 9 rounds" in again.stdout
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "runs/finished").glob("checkpoint-*.h5")}
    assert after == before, "no checkpoint is touched"
