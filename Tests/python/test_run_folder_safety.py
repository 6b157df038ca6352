"""Run-folder safety with the real binary (issue 12): one writer per run folder, signals during
set-up, messages that name the real cause (permission denied, read-only file system).

The memory estimate against measured peak RSS is in test_memory_estimate.py.
"""
import os
import pathlib
import random
import shutil
import signal
import subprocess
import threading
import time

import h5py
import pytest

from conftest import BINARY, FORTUNES, ROOT, small_tmpfs, wait_for_round

STOPPED = 75
LONG_JOB = """\
name = "long"
output = "{output}"
seed = 3

[model]
layers = 2
width = 32
heads = 2

[data]
corpus = "{corpus}"

[train]
rounds = 100000
clients_per_round = 2
local_steps = 2
batch = 4
sequence = 32
learning_rate = 3e-3
eval_batches = 2
checkpoint_every = 5
threads = 1
"""


def write_job(folder: pathlib.Path, text: str = LONG_JOB, **values) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    job = folder / "long.toml"
    job.write_text(text.format(output=folder / "runs", corpus=FORTUNES, **values))
    return job


def mpirun(ranks, *arguments):
    return ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks), BINARY, *arguments]


def run(arguments, timeout=120, **kwargs):
    started = time.monotonic()
    done = subprocess.run(arguments, capture_output=True, text=True, timeout=timeout, **kwargs)
    done.seconds = time.monotonic() - started
    return done


def error_lines(done):
    return [line for line in done.stderr.splitlines() if line.startswith("Error:")]


def history_rounds(folder: pathlib.Path):
    with h5py.File(folder / "history.h5", "r", locking=False) as f:  # a reader never takes HDF5's lock
        return f["history"]["round"][()].tolist()


@pytest.fixture
def running(tmp_path):
    """A long single-rank run holding its folder's lock, killed at the end."""
    job = write_job(tmp_path)
    process = subprocess.Popen([BINARY, "train", str(job)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_round(process, 12)
        # Keep reading what it prints, so a full pipe never stalls it.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        threading.Thread(target=process.stderr.read, daemon=True).start()
        yield job, tmp_path / "runs" / "long", process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=60)


def test_a_second_writer_is_refused_naming_the_holder_and_readers_are_not(running):
    job, folder, first = running
    lock = (folder / ".lock").read_text()
    assert f"pid={first.pid}" in lock and "host=" in lock
    before = sorted(p.name for p in folder.glob("checkpoint-*.h5"))
    assert before, "the first run has written checkpoints"
    attempts = {
        "train": [BINARY, "train", str(job)],
        "train --resume": [BINARY, "train", str(job), "--resume"],
        "train --replace": [BINARY, "train", str(job), "--replace"],
        "resume": [BINARY, "resume", str(folder)],
        "mpirun train --resume": mpirun(3, "train", str(job), "--resume"),
        "mpirun train --replace": mpirun(3, "train", str(job), "--replace"),
    }
    for name, command in attempts.items():
        done = run(command, timeout=120)  # a hang under mpirun fails here
        assert done.returncode != 0, f"{name} was not refused:\n{done.stdout}\n{done.stderr}"
        lines = error_lines(done)
        assert len(lines) == 1, f"{name}: {done.stderr}"
        assert f"process {first.pid} on host" in lines[0] and "in use" in lines[0] and str(folder) in lines[0], lines[0]
        assert "run written to" not in done.stdout
        assert first.poll() is None, f"{name} stopped the first run"
    # Readers are never blocked by the run's lock: inspect, and h5py (which, like every reader
    # without HDF5's lock, may meet an append half-done and simply reads again).
    inspected = run([BINARY, "inspect", str(folder)])
    assert inspected.returncode == 0, inspected.stderr
    assert "checkpoints:" in inspected.stdout and "history:" in inspected.stdout
    for attempt in range(50):
        try:
            assert history_rounds(folder)[0] == 1
            break
        except Exception:  # a torn read: OSError, KeyError, ...
            time.sleep(0.1)
    else:
        raise AssertionError("h5py could not read history.h5 while the run was going")
    # --replace deleted nothing: the first run's checkpoints are still there, and once it stops,
    # its history is one row per round, in order, from round 1 (a second writer would have
    # duplicated or restarted it).
    after = sorted(p.name for p in folder.glob("checkpoint-*.h5"))
    assert after and after[-1] >= before[-1], (before, after)
    first.send_signal(signal.SIGUSR1)
    assert first.wait(timeout=120) == STOPPED
    rounds = history_rounds(folder)
    assert len(rounds) > 12 and rounds == list(range(1, len(rounds) + 1)), rounds[:20]
    with h5py.File(sorted(folder.glob("checkpoint-*.h5"))[-1], "r") as f:
        assert int(f["state"]["round"][()]) == rounds[-1]


def test_a_killed_run_leaves_no_stale_lock(tmp_path):
    # Rounds of 40 local steps, killed just after a round is recorded: the kill lands in the
    # next round's training, not inside a history append (which could damage history.h5; see
    # "Not yet guaranteed" in docs/CHECKPOINTS.md).
    job = write_job(tmp_path, LONG_JOB.replace("local_steps = 2", "local_steps = 40"))
    folder = tmp_path / "runs" / "long"
    first = subprocess.Popen([BINARY, "train", str(job)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_round(first, 12)
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.kill()
        first.communicate(timeout=60)
    assert (folder / ".lock").exists()  # the file stays; the kernel released the lock
    newest = sorted(folder.glob("checkpoint-*.h5"))[-1]
    with h5py.File(newest, "r", locking=False) as f:
        stopped_at = int(f["state"]["round"][()])
    done = run([BINARY, "resume", str(folder), "--rounds", str(stopped_at + 3)])
    assert done.returncode == 0, done.stderr
    assert f"resumed from {newest}" in done.stdout
    assert history_rounds(folder) == list(range(1, stopped_at + 4))
    # And a new start into the now idle folder is refused only because it holds a run.
    again = run([BINARY, "train", str(job)])
    assert again.returncode != 0 and "already holds a run" in again.stderr and "in use" not in again.stderr


def random_text(path: pathlib.Path, megabytes: int, seed: int = 5):
    """Random lowercase words: nothing repeats, so BPE's word cache cannot speed the encoding up."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    with path.open("w") as out:
        written = 0
        while written < megabytes * 1_000_000:
            line = " ".join("".join(rng.choices(letters, k=rng.randint(3, 12))) for _ in range(12)) + "\n"
            out.write(line)
            written += len(line)


@pytest.fixture(scope="module")
def slow_setup(tmp_path_factory):
    """A BPE job whose set-up (encoding a large corpus) takes several seconds."""
    import hf_models
    folder = tmp_path_factory.mktemp("slow")
    vocabulary = hf_models.train_vocabulary(folder / "bpe", vocab_size=400)
    random_text(folder / "big.txt", 40)
    text = LONG_JOB.replace('[data]\ncorpus = "{corpus}"',
                            '[data]\ncorpus = "{corpus}"\npartition = "iid"\nclients = 4\ntokenizer = "bpe"\n'
                            f'vocab = "{vocabulary / "vocab.json"}"\nmerges = "{vocabulary / "merges.txt"}"')
    return text.replace("{corpus}", str(folder / "big.txt"))


def wait_for_setup(process, folder: pathlib.Path):
    """Waits until rank 0 holds the run folder's lock: its signal handlers are in place and it is
    loading the corpus (about 10 s of BPE encoding here)."""
    deadline = time.monotonic() + 60
    while not (folder / ".lock").exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "set-up never took the lock"
        time.sleep(0.05)
    time.sleep(0.5)
    assert process.poll() is None, "set-up ended before the signal: make the corpus larger"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
def test_a_signal_during_setup_ends_the_process_at_once(tmp_path, slow_setup, sig):
    job = write_job(tmp_path, slow_setup.replace("{output}", str(tmp_path / "runs")))
    process = subprocess.Popen([BINARY, "train", str(job)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_setup(process, tmp_path / "runs" / "long")
    signalled = time.monotonic()
    process.send_signal(sig)
    out, err = process.communicate(timeout=60)
    waited = time.monotonic() - signalled
    assert process.returncode == STOPPED, f"{out}\n{err}"
    assert "during set-up" in err and "round" not in out, f"{out}\n{err}"
    assert waited < 1.0, f"took {waited:.2f} s to stop"
    # Nothing left behind: the run folder the start made (for its lock) is gone again.
    assert not (tmp_path / "runs").exists(), list((tmp_path / "runs").rglob("*"))


def test_sigusr1_to_mpirun_during_setup_ends_every_rank(tmp_path, slow_setup):
    job = write_job(tmp_path, slow_setup.replace("{output}", str(tmp_path / "runs")))
    process = subprocess.Popen(mpirun(3, "train", str(job)), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)
    wait_for_setup(process, tmp_path / "runs" / "long")
    time.sleep(1.0)  # the client ranks are past MPI's start-up too
    process.send_signal(signal.SIGUSR1)
    try:
        out, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    assert process.returncode != 0, f"{out}\n{err}"
    assert "during set-up" in err, err
    left = subprocess.run(["pgrep", "-f", f"^{BINARY} train {job}"], capture_output=True, text=True).stdout.split()
    assert not left, f"ranks still running: {left}"
    assert not (tmp_path / "runs" / "long" / "history.h5").exists()


SHORT_JOB = LONG_JOB.replace("rounds = 100000", "rounds = 6")


def finished_run(folder: pathlib.Path) -> pathlib.Path:
    job = write_job(folder, SHORT_JOB)
    done = run([BINARY, "train", str(job)])
    assert done.returncode == 0, done.stderr
    return job


@pytest.fixture
def read_only_mount(tmp_path):
    """A small tmpfs at tmp_path/ro, remounted read-only by the test; skipped where mount is not allowed."""
    with small_tmpfs(tmp_path / "ro", "64m") as mount:
        yield mount


def test_read_only_file_system_is_named_as_such(read_only_mount):
    job = finished_run(read_only_mount)
    folder = read_only_mount / "runs" / "long"
    subprocess.run(["mount", "-o", "remount,ro", str(read_only_mount)], check=True)
    for command in ([BINARY, "resume", str(folder), "--rounds", "9"], [BINARY, "train", str(job), "--resume", "--rounds", "9"]):
        done = run(command)
        assert done.returncode != 0
        lines = error_lines(done)
        assert len(lines) == 1, done.stderr
        assert "read-only file system" in lines[0] and "truncated" not in lines[0] and "damaged" not in lines[0], lines[0]
        assert "cp -r" in lines[0], lines[0]
    other = run([BINARY, "train", str(job), "--output", str(read_only_mount / "elsewhere")])
    assert other.returncode != 0 and "read-only file system" in other.stderr and "--output" in other.stderr, other.stderr
    inspected = run([BINARY, "inspect", str(folder)])  # reading needs no write access
    assert inspected.returncode == 0, inspected.stderr


def as_nobody(command):
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]


@pytest.fixture
def shared_tmp():
    """A world-readable scratch folder (pytest's tmp_path is private to root)."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run the binary as another user")
    folder = pathlib.Path(f"/tmp/fedcybgd-perm-{os.getpid()}-{random.randrange(1 << 30)}")
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_permission_denied_is_named_as_such(shared_tmp):
    job = finished_run(shared_tmp)
    job.chmod(0o644)
    folder = shared_tmp / "runs" / "long"
    for path in [shared_tmp / "runs", folder]:
        path.chmod(0o755)
    for checkpoint in folder.glob("*.h5"):
        checkpoint.chmod(0o644)
    # Another user cannot write the run folder: resume says so, and how to go on.
    done = run(as_nobody([BINARY, "resume", str(folder), "--rounds", "9"]))
    assert done.returncode != 0
    lines = error_lines(done)
    assert len(lines) == 1 and "permission denied" in lines[0] and "damaged" not in lines[0], done.stderr
    # ... nor create a run folder where it may not write.
    done = run(as_nobody([BINARY, "train", str(job), "--output", str(shared_tmp / "new")]))
    assert done.returncode != 0 and "cannot create the run folder" in done.stderr and "permission denied" in done.stderr, done.stderr
    assert not (shared_tmp / "new").exists()
    # A history it may not read is called unreadable, not damaged.
    (folder / "history.h5").chmod(0o600)
    done = run(as_nobody([BINARY, "inspect", str(folder)]))
    assert done.returncode != 0
    assert "permission denied" in done.stderr and "damaged" not in done.stderr, done.stderr
