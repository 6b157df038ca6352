"""The server killed inside history appends, many times (issue 12): each kill lands at an exact
step of the append of one round's row (after the file is opened, after any one dataset is
written, or just before it is closed), through the test-only FEDCYBGD_TEST_KILL_IN_HISTORY_APPEND
(Sources/HDF5Store/HistoryAppendKillSwitch.swift); a few more SIGKILLs come from outside at
random delays. After each kill the run is resumed. At the end history.h5 equals an
uninterrupted run's, bit for bit, and `inspect` says the same of both.
"""
import os
import pathlib
import random
import re
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from conftest import BINARY, FORTUNES

KILLED = -signal.SIGKILL
ROUNDS = 30
JOB = """\
name = "kills"
output = "{output}"
seed = 11

[model]
layers = 2
width = 32
heads = 2

[data]
corpus = "{corpus}"

[train]
rounds = {rounds}
clients_per_round = 2
local_steps = 2
batch = 4
sequence = 32
learning_rate = 3e-3
eval_batches = 2
checkpoint_every = 1
threads = 1
"""
# Timing columns (and the broadcast size, as a resume re-sends the whole model) legitimately differ.
TIMING = ("seconds", "time", "cpu", "rss", "bytes_broadcast")


def write_job(folder: pathlib.Path) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    job = folder / "kills.toml"
    job.write_text(JOB.format(output=folder / "runs", corpus=FORTUNES, rounds=ROUNDS))
    return job


def train(job, *extra, kill_at=None):
    environment = dict(os.environ)
    if kill_at:
        environment["FEDCYBGD_TEST_KILL_IN_HISTORY_APPEND"] = "%d:%d" % kill_at
    return subprocess.run([BINARY, "train", str(job), *extra], capture_output=True, text=True, timeout=120, env=environment)


def computed_datasets(history: h5py.File):
    """Every dataset of the history that describes the computation, by path."""
    found = {}

    def take(name, item):
        if isinstance(item, h5py.Dataset):
            found[name] = item[()]

    history.visititems(take)
    return {name: value for name, value in found.items() if not any(word in name.split("/")[-1] for word in TIMING)}


def inspected(folder):
    shown = subprocess.run([BINARY, "inspect", str(folder)], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    keep = ("history:", "best eval loss", "totals so far", "visits per block", "finished:")
    lines = [line for line in shown.stdout.splitlines() if line.startswith(keep)]
    # The finished line's wall time and broadcast bytes (a resume re-sends the model) differ.
    return [re.sub(r"broadcast [^,]*, |, [0-9.]+ s$", "", line) for line in lines]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    folder = tmp_path_factory.mktemp("uninterrupted")
    done = train(write_job(folder))
    assert done.returncode == 0, done.stderr
    return folder / "runs" / "kills"


def append_steps(reference: pathlib.Path) -> int:
    """Steps of a block round's append: opened, one per dataset of /history and of a block's visits, closing."""
    with h5py.File(reference / "history.h5", "r") as f:
        visits = next(iter(f["blocks"].values()))["visits"]
        return 1 + len(f["history"]) + len(visits) + 1


def test_kills_inside_history_appends_then_resume_equal_an_uninterrupted_run(tmp_path, reference):
    rng = random.Random(20261129)
    steps = append_steps(reference)
    job = write_job(tmp_path)
    folder = tmp_path / "runs" / "kills"
    # 24 kills at exact steps of appends, in rounds that never go back, so every resume makes progress.
    targets = sorted((rng.randint(2, ROUNDS), rng.randint(1, steps)) for _ in range(24))
    restored = 0
    first = train(job, kill_at=targets[0])
    assert first.returncode == KILLED, first.stderr
    for kill_at in targets[1:]:
        resumed = train(job, "--resume", kill_at=kill_at)
        assert resumed.returncode == KILLED, f"{kill_at}: {resumed.stdout}\n{resumed.stderr}"
        restored += "restored from" in resumed.stderr
    # A few kills from outside, at random delays (set-up, a round, a checkpoint or an append).
    for _ in range(4):
        process = subprocess.Popen([BINARY, "train", str(job), "--resume", "--rounds", str(ROUNDS)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.05, 0.4))
        process.send_signal(signal.SIGKILL)
        restored += "restored from" in process.communicate(timeout=60)[1]
    finished = train(job, "--resume")
    assert finished.returncode == 0, finished.stderr
    restored += "restored from" in finished.stderr

    with h5py.File(reference / "history.h5", "r") as a, h5py.File(folder / "history.h5", "r") as b:
        want, got = computed_datasets(a), computed_datasets(b)
        assert sorted(want) == sorted(got)
        assert len(want["history/round"]) == ROUNDS
        for name in want:
            assert want[name].dtype == got[name].dtype and want[name].shape == got[name].shape, name
            assert want[name].tobytes() == got[name].tobytes(), name
    with h5py.File(sorted(reference.glob("checkpoint-*.h5"))[-1], "r") as a, \
            h5py.File(sorted(folder.glob("checkpoint-*.h5"))[-1], "r") as b:
        for name in a["model"]:
            assert np.array_equal(a["model"][name][()], b["model"][name][()]), name
    assert inspected(folder) == inspected(reference)
    # Kills inside appends do damage history.h5 (unreadable, or readable with wrong rows).
    assert restored >= 1, "no resume found history.h5 damaged: the kills missed the appends"
    print(f"{len(targets) + 4} kills; {restored} resumes found history.h5 damaged and rebuilt it")
