"""A full disk before the rounds (issue 12): every file a start writes (the tokenizer, the token
cache, partition.h5, history.h5, a history restored for a resume) meets a full disk in turn,
under real `mpirun -n 3`, on a small tmpfs with a filler file leaving just so much space.

Each must end in one line that names the run folder and says it is full, exit status 74 (as a
full disk during the rounds: test_checkpoints.py), no hang, and leave nothing that blocks the
next start. The disk filling up during the rounds is tested in test_checkpoints.py.
"""
import os
import pathlib
import subprocess

import h5py
import pytest

from conftest import BINARY, ROOT, small_tmpfs

FULL = 74
PAGE = 4096  # tmpfs charges whole pages
JOB = """\
name = "setup"
output = "{output}"
seed = 3

[model]
layers = 1
width = 32
heads = 2

[data]
corpus = "{corpus}"
partition = "iid"
clients = 3
tokenizer = "bpe"
vocab = "{vocab}/vocab.json"
merges = "{vocab}/merges.txt"

[train]
rounds = 2
clients_per_round = 2
local_steps = 1
batch = 2
sequence = 32
eval_batches = 1
threads = 1
"""


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A BPE vocabulary and a 150 kB corpus, so the start writes a token cache of about 350 kB."""
    import hf_models
    folder = tmp_path_factory.mktemp("inputs")
    hf_models.train_vocabulary(folder / "bpe", vocab_size=400)
    corpus = folder / "corpus.txt"
    corpus.write_bytes((hf_models.FORTUNES / "computers").read_bytes()[:150_000])
    return folder / "bpe", corpus


def write_job(folder: pathlib.Path, output: pathlib.Path, inputs) -> pathlib.Path:
    vocab, corpus = inputs
    job = folder / "setup.toml"
    job.write_text(JOB.format(output=output, corpus=corpus, vocab=vocab))
    return job


def mpirun(*arguments):
    return ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", "3", BINARY, *map(str, arguments)]


def run(command, expect):
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == expect, f"exit {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


def charged(path: pathlib.Path) -> int:
    """The bytes a file takes on tmpfs (whole pages)."""
    return -(-path.stat().st_size // PAGE) * PAGE


def leave_free(disk: pathlib.Path, free: int):
    """Fills `disk` with a filler file so that `free` bytes remain."""
    filler = disk / "filler"
    filler.unlink(missing_ok=True)
    stat = os.statvfs(disk)
    filler.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - free))


def said_full(done, folder, what):
    lines = [line for line in done.stderr.splitlines() if "is full" in line]
    assert len(lines) == 1, done.stderr
    assert str(folder) in lines[0] and what in lines[0], lines[0]
    return lines[0]


def test_a_full_disk_during_setup_is_an_exit_that_leaves_nothing_behind(tmp_path, inputs):
    # Where each file of a start comes, measured on an ordinary disk, in the order they are written.
    measured = run([BINARY, "train", write_job(tmp_path, tmp_path / "measured", inputs)], 0)
    assert "BPE-encoded" in measured.stdout
    made = tmp_path / "measured" / "setup"
    lock, tokenizer = charged(made / ".lock"), charged(made / "tokenizer" / "vocab.json") + charged(made / "tokenizer" / "merges.txt")
    cache, partition = charged(made / "corpus-tokens.bin"), charged(made / "partition.h5")
    assert cache > 64 * PAGE
    stages = {  # free space: the write that meets the full disk
        "tokenizer": 0,
        "token cache": lock + tokenizer + cache // 2,
        "partition.h5": lock + tokenizer + cache,
        "history.h5": lock + tokenizer + cache + partition + PAGE,
    }
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        job = write_job(tmp_path, disk / "runs", inputs)
        folder = disk / "runs" / "setup"
        for stage, free in stages.items():
            leave_free(disk, free)
            full = run(mpirun("train", job), FULL)  # not a crash (139), not 1, and no hang
            said_full(full, folder, "could not start")
            assert not (disk / "runs").exists(), f"{stage}: left {list((disk / 'runs').rglob('*'))}"
            (disk / "filler").unlink()
            run([BINARY, "train", job], 0)  # the same command starts, without --resume or --replace
            subprocess.run(["rm", "-rf", str(disk / "runs")], check=True)

        # A resume that must restore a lost history.h5 from its checkpoint, on a full disk.
        run([BINARY, "train", job], 0)
        (folder / "history.h5").unlink()
        leave_free(disk, 0)
        full = run(mpirun("train", job, "--resume", "--rounds", "3"), FULL)
        said_full(full, folder, "could not resume")
        assert sorted(p.name for p in folder.iterdir()) == sorted([".lock", "checkpoint-000002.h5", "corpus-tokens.bin",
                                                                  "partition.h5", "tokenizer"])
        (disk / "filler").unlink()
        run(mpirun("train", job, "--resume", "--rounds", "3"), 0)
        with h5py.File(folder / "history.h5", "r") as f:
            assert f["history"]["round"][()].tolist() == [1, 2, 3]


def test_a_full_disk_before_the_first_checkpoint_says_to_start_again(tmp_path, inputs):
    """Rows written, no checkpoint yet (it comes at the end): nothing to resume, so the line
    says how to start again, and that works once space is freed."""
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        job = write_job(tmp_path, disk / "runs", inputs)
        run([BINARY, "train", job], 0)
        folder = disk / "runs" / "setup"
        need = sum(charged(p) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("checkpoint"))
        subprocess.run(["rm", "-rf", str(disk / "runs")], check=True)
        leave_free(disk, need + 16 * PAGE)  # the checkpoint (about 260 kB) cannot be written
        full = run(mpirun("train", job), FULL)
        line = said_full(full, folder, "before its first checkpoint")
        assert f"fedcybgd train {job} --replace" in line
        assert not list(folder.glob("checkpoint-*"))
        (disk / "filler").unlink()
        run(mpirun("train", job, "--replace"), 0)
