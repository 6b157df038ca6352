"""model.init from a fedcybgd checkpoint or run folder: the run starts from the stored model bit
for bit, takes its shape from it, and refuses bad checkpoints without writing anything."""
import hashlib
import shutil
import subprocess

import h5py
import numpy as np
import pytest

from conftest import BINARY, FORTUNES

FINETUNE = """\
name = "finetune"
output = "{output}"
seed = 42
{model}
[data]
corpus = "{corpus}"

[train]
rounds = 1
clients_per_round = 1
local_steps = 2
batch = 4
sequence = 32
learning_rate = 3e-3
eval_batches = 2
threads = 1
"""


def write_job(tmp, init, model_keys=""):
    job = tmp / "finetune.toml"
    model = f'[model]\ninit = "{init}"\n{model_keys}'
    job.write_text(FINETUNE.format(output=tmp / "runs", corpus=FORTUNES, model=model))
    return job


def train(job):
    return subprocess.run([BINARY, "train", str(job)], capture_output=True, text=True, timeout=600)


def newest_checkpoint(folder):
    return sorted(folder.glob("checkpoint-*.h5"))[-1]


def tensors(path):
    with h5py.File(path, "r", locking=False) as f:
        return {name: ds[()] for name, ds in f["model"].items()}, {name: int(ds.attrs["block"]) for name, ds in f["model"].items()}


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("by_folder", [True, False])
def test_run_starts_from_the_checkpoint_bit_for_bit(single_rank_run, tmp_path, by_folder):
    base, _ = single_rank_run
    source = newest_checkpoint(base)
    before = digest(source)
    done = train(write_job(tmp_path, base if by_folder else source))
    assert done.returncode == 0, done.stderr
    assert "2 layers × 32 wide" in done.stdout, done.stdout
    assert f"model.init starts from {source} (round 9 of its run)" in done.stdout, done.stdout
    start, blocks = tensors(source)
    end, _ = tensors(newest_checkpoint(tmp_path / "runs/finetune"))
    # Round 1 trains block 0 (the embeddings); every other tensor must still be the base's
    # exactly, which a fresh initialisation from the seed could never give.
    untouched = [name for name, block in blocks.items() if block != 0]
    assert len(untouched) > 10
    for name in untouched:
        assert np.array_equal(start[name], end[name]), name
    assert not np.array_equal(start["transformer.wte.weight"], end["transformer.wte.weight"])
    with h5py.File(base / "history.h5", "r", locking=False) as f:
        base_final = float(f["summary"].attrs["final_eval_loss"])
    with h5py.File(tmp_path / "runs/finetune/history.h5", "r", locking=False) as f:
        # Same corpus and eval batches: the initial model evaluates exactly as the base ended.
        assert float(f["summary"].attrs["initial_eval_loss"]) == base_final
        assert "init = " in f.attrs["job"]
    assert digest(source) == before


def assert_refused(tmp_path, job, *needles):
    done = train(job)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, done.stderr
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert not (tmp_path / "runs/finetune").exists(), "a refused start must write nothing"


def test_model_key_contradicting_the_checkpoint_is_refused(single_rank_run, tmp_path):
    base, _ = single_rank_run
    job = write_job(tmp_path, base, "layers = 3\n")
    assert_refused(tmp_path, job, "model.layers = 3 but the checkpoint has n_layer = 2", "remove these keys")


def test_truncated_checkpoint_is_refused(single_rank_run, tmp_path):
    source = newest_checkpoint(single_rank_run[0])
    broken = tmp_path / "checkpoint-000009.h5"
    broken.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    assert_refused(tmp_path, write_job(tmp_path, broken), "not a complete checkpoint", "run folder")


def test_run_folder_without_a_complete_checkpoint_is_refused(single_rank_run, tmp_path):
    source = newest_checkpoint(single_rank_run[0])
    folder = tmp_path / "half"
    folder.mkdir()
    (folder / source.name).write_bytes(source.read_bytes()[:1000])
    assert_refused(tmp_path, write_job(tmp_path, folder), "holds no complete checkpoint", "fedcybgd resume")


def test_checkpoint_of_another_shape_is_refused(single_rank_run, tmp_path):
    source = newest_checkpoint(single_rank_run[0])
    odd = tmp_path / "odd.h5"
    shutil.copy(source, odd)
    with h5py.File(odd, "r+") as f:
        # The recorded shape says 4 heads × 64 wide, the tensors are 32 wide: not this model.
        f["model"].attrs["n_embd"] = 64
        f["model"].attrs["n_head"] = 4
    assert_refused(tmp_path, write_job(tmp_path, odd), "wrong model shape", "model.init")
