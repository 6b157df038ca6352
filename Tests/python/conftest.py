"""Shared fixtures: run the real fedcybgd binary on a small job, alone and under mpirun."""
import contextlib
import os
import pathlib
import subprocess

import h5py
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("FEDCYBGD_BIN", str(ROOT / ".build/release/fedcybgd"))
FORTUNES = "/usr/share/games/fortunes"

TINY_JOB = """\
name = "tiny"
output = "{output}"
seed = 42

[model]
layers = 2
width = 32
heads = 2

[data]
corpus = "{corpus}"

[train]
rounds = 9
clients_per_round = 2
local_steps = 2
batch = 4
sequence = 32
learning_rate = 3e-3
eval_batches = 2
threads = 1
"""


def run_job(tmp: pathlib.Path, ranks: int | None, job_text: str = TINY_JOB, name: str = "tiny",
            extra: tuple[str, ...] = ()) -> tuple[pathlib.Path, str]:
    """Runs a job (its text with {output} and {corpus} to fill; the tiny job unless given) on
    one process or under mpirun; returns its run folder and what rank 0 printed."""
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"no fedcybgd binary at {BINARY}; run 'make test', which builds it")
    tmp.mkdir(parents=True, exist_ok=True)
    job = tmp / f"{name}.toml"
    job.write_text(job_text.format(output=tmp / "runs", corpus=FORTUNES))
    command = [BINARY, "train", str(job), *extra]
    if ranks is not None:
        command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks)] + command
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"fedcybgd failed:\n{done.stdout}\n{done.stderr}"
    return tmp / "runs" / name, done.stdout


@pytest.fixture(scope="session")
def single_rank_run(tmp_path_factory):
    return run_job(tmp_path_factory.mktemp("p1"), None)


@pytest.fixture(scope="session")
def three_rank_run(tmp_path_factory):
    return run_job(tmp_path_factory.mktemp("p3"), 3)


def wait_for_round(process, round_number):
    """Reads a run's progress until it reports `round_number`, so that a signal lands mid-run."""
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("round") and line.split()[1].startswith(f"{round_number}/"):
            return seen
    raise AssertionError("the run ended before round %d:\n%s" % (round_number, "".join(seen)))


@contextlib.contextmanager
def small_tmpfs(path, size):
    """A tmpfs of `size` (e.g. "3m") mounted at `path` for the block; the test is skipped where
    mount is not allowed."""
    path.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def assert_same_parameters(a: pathlib.Path, b: pathlib.Path) -> None:
    """Two complete checkpoint files hold the same tensors, bit for bit."""
    with h5py.File(a, "r") as fa, h5py.File(b, "r") as fb:
        assert fa.attrs["complete"] == 1 and fb.attrs["complete"] == 1
        assert list(fa["model"]) and sorted(fa["model"]) == sorted(fb["model"])
        for name in fa["model"]:
            assert fa["model"][name][()].tobytes() == fb["model"][name][()].tobytes(), name
