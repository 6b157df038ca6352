"""slurm/train.sbatch and slurm/sweep.sbatch on a real Slurm: a one-node cluster on localhost
(scripts/slurm-cluster.sh), started once for these tests and always stopped at the end.

1. `sbatch --wait` of a small job with the script's task defaults; the run folder is read with h5py.
2. A time limit that falls mid-run: USR1 warning, checkpoint, requeue, resume; the final
   parameters equal an uninterrupted run's bit for bit and no round is recorded twice.
3. Plain `scancel` of a running job leaves a loadable checkpoint; a new submission resumes it.
4. A rank killed mid-run (SIGKILL, as the out-of-memory killer sends): the script requeues, the job resumes and trains the same
   rounds as an uninterrupted run; with FEDCYBGD_MAX_CRASH_REQUEUES=0 it stops instead.
5. A 3-task array sweep (seeds) gives 3 run folders and the comparison table.

They need root (the daemons) and Debian's slurm-wlm and munge, which scripts/setup.sh installs;
they skip only where Slurm is missing and cannot be installed (no root).
"""
import os
import pathlib
import re
import shutil
import signal
import subprocess
import threading
import time

import h5py
import numpy as np
import pytest

from conftest import assert_same_parameters, BINARY, FORTUNES, ROOT, TINY_JOB

CLUSTER = ROOT / "scripts/slurm-cluster.sh"
TRAIN = ROOT / "slurm/train.sbatch"
SWEEP = ROOT / "slurm/sweep.sbatch"
CLUSTER_DIR = os.environ.get("FEDCYBGD_SLURM_DIR", "/tmp/fedcybgd-slurm")
SLURM_TOOLS = ["munged", "slurmctld", "slurmd", "sbatch", "scontrol", "squeue", "scancel"]
ENDED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL",
         "DEADLINE", "PREEMPTED"}

# The shared tiny job, with no output (runs go under the submit folder) and no thread count
# (the batch script passes --threads from SLURM_CPUS_PER_TASK).
TINY = TINY_JOB.replace('output = "{output}"\n', "").replace("threads = 1\n", "")

# About 1 s a round on one core: 48 rounds outlast the first USR1 warning of a 1-minute job
# (it comes 20-40 s after the start) and usually two more, so the run is requeued about twice.
LONG = """\
name = "long"
seed = 11

[model]
layers = 2
width = 64
heads = 2

[data]
corpus = "{corpus}"

[train]
rounds = 48
clients_per_round = 2
local_steps = 24
batch = 16
sequence = 128
learning_rate = 3e-3
eval_batches = 2
checkpoint_every = {every}
"""
COMPARED = ["round", "cycle", "block", "clients", "train_loss", "eval_loss", "bytes_down", "bytes_up",
            "rejected_uploads"]


def _missing_tools():
    return [t for t in SLURM_TOOLS if not shutil.which(t) and not os.path.exists(f"/usr/sbin/{t}")]


@pytest.fixture(scope="session")
def slurm(request):
    """Starts the local cluster (stopping leftovers of an earlier, crashed session first) and
    returns the environment for sbatch; the cluster is stopped when the session ends."""
    missing = _missing_tools()
    if missing:
        if os.geteuid() == 0:
            pytest.fail(f"Slurm is missing ({' '.join(missing)}) although this machine can install it: "
                        "run scripts/setup.sh, which installs slurm-wlm and munge")
        pytest.skip(f"Slurm is not installed ({' '.join(missing)}) and cannot be installed without root: "
                    "apt-get install slurm-wlm munge as root to run these tests")
    if os.geteuid() != 0:
        pytest.skip("the local Slurm test cluster needs root (slurmd starts jobs, munged runs as 'munge')")
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"no fedcybgd binary at {BINARY}; run 'make test', which builds it")
    env = dict(os.environ, FEDCYBGD_SLURM_DIR=CLUSTER_DIR)
    request.addfinalizer(lambda: subprocess.run(["bash", str(CLUSTER), "stop"], env=env, timeout=120))
    started = subprocess.run(["bash", str(CLUSTER), "start"], env=env, capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, f"the test cluster did not start:\n{started.stdout}\n{started.stderr}"
    return dict(env, SLURM_CONF=f"{CLUSTER_DIR}/slurm.conf", FEDCYBGD_BIN=BINARY, FEDCYBGD_ROOT=str(ROOT))


def slurm_cmd(env, *args, cwd=None, timeout=60):
    done = subprocess.run(list(args), env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, args))}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def submit(env, cwd, *args):
    """sbatch --parsable; returns the job id."""
    return slurm_cmd(env, "sbatch", "--parsable", *map(str, args), cwd=cwd).strip().split(";")[0]


def job_info(env, job_id):
    """`scontrol show job -o` of one job as a dict (Restarts, JobState, ExitCode, ...)."""
    line = slurm_cmd(env, "scontrol", "show", "job", "-o", str(job_id)).splitlines()[0]
    info = {}
    for field in line.split():
        key, _, value = field.partition("=")
        info.setdefault(key, value)
    return info


def wait_until_ended(env, job_id, timeout, log=None, on_poll=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = job_info(env, job_id)
        if info["JobState"] in ENDED:
            return info
        if on_poll:
            on_poll(info)
        time.sleep(2)
    subprocess.run(["scancel", str(job_id)], env=env)
    text = pathlib.Path(log).read_text() if log and pathlib.Path(log).exists() else ""
    raise AssertionError(f"job {job_id} still {info['JobState']} after {timeout} s:\n{text[-3000:]}")


def wait_for_round(path, number, timeout):
    """Waits until the job's log shows round `number` (progress lines read 'round  5/20 ...')."""
    pattern = re.compile(rf"^round +{number}/", re.M)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and pattern.search(path.read_text()):
            return
        time.sleep(0.5)
    raise AssertionError(f"no round {number} in {path} after {timeout} s:\n{path.read_text() if path.exists() else ''}")


def newest(folder):
    return sorted(folder.glob("checkpoint-*.h5"))[-1]


def history(folder, column):
    with h5py.File(folder / "history.h5", "r") as f:
        return f["history"][column][()]


def assert_same_run(reference, folder):
    """Same final parameters (bit for bit) and the same history, no round twice."""
    with h5py.File(newest(reference), "r") as fa, h5py.File(newest(folder), "r") as fb:
        assert fa["state"]["round"][()] == fb["state"]["round"][()]
    assert_same_parameters(newest(reference), newest(folder))
    rounds = history(folder, "round")
    assert len(set(rounds.tolist())) == len(rounds), f"a round is recorded twice: {rounds}"
    for column in COMPARED:
        assert history(reference, column).tobytes() == history(folder, column).tobytes(), column


class Reference:
    """The uninterrupted run of LONG on one rank, computed in the background (it uses the core
    that the 2-rank Slurm job leaves free), for the tests that compare with it."""

    def __init__(self, folder: pathlib.Path):
        folder.mkdir(parents=True, exist_ok=True)
        job = folder / "long.toml"
        job.write_text(LONG.format(corpus=FORTUNES, every=0))
        self.folder = folder / "runs" / "long"
        self.process = subprocess.Popen([BINARY, "train", str(job), "--output", str(folder / "runs"), "--threads", "1"],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output = ""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        self.output = self.process.stdout.read()

    def result(self) -> pathlib.Path:
        self.process.wait(timeout=600)
        self.reader.join()
        assert self.process.returncode == 0, self.output[-3000:]
        return self.folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory, slurm):
    ref = Reference(tmp_path_factory.mktemp("slurm-reference"))
    yield ref
    if ref.process.poll() is None:
        ref.process.kill()
        ref.process.wait()


def test_sbatch_wait_trains_a_small_job_into_runs_under_the_submit_dir(slurm, tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY.format(corpus=FORTUNES))
    log = tmp_path / "train.out"
    # The batch script's own task defaults: a rank of 1 thread per CPU of the node plus the server
    # (3 on 2 CPUs), and the job runs at once (4 tasks of 1 CPU used to pend for ever on 2 CPUs).
    done = subprocess.run(["sbatch", "--wait", "--time=5", f"--output={log}", str(TRAIN), "tiny.toml"],
                          env=slurm, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    text = log.read_text() if log.exists() else ""
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{text}"
    cpus = int(os.environ.get("FEDCYBGD_SLURM_CPUS", len(os.sched_getaffinity(0))))  # the node's, as the cluster script sets
    assert "--threads 1" in text and f"{cpus + 1} ranks" in text, text
    folder = tmp_path / "runs" / "tiny"  # the job names no output: runs/ under the submit dir
    with h5py.File(folder / "history.h5", "r") as f:
        assert f["history"]["round"][()].tolist() == list(range(1, 10))
        assert np.isfinite(f["history"]["train_loss"][()]).all()
        assert "summary" in f
    with h5py.File(newest(folder), "r") as f:
        assert f.attrs["complete"] == 1
        assert int(f["state"]["round"][()]) == 9
        assert all(np.isfinite(f["model"][name][()]).all() for name in f["model"])


def test_time_limit_warning_checkpoints_requeues_and_finishes_like_an_uninterrupted_run(slurm, tmp_path, reference):
    (tmp_path / "long.toml").write_text(LONG.format(corpus=FORTUNES, every=0))
    log = tmp_path / "long.out"
    job_id = submit(slurm, tmp_path, "--ntasks=2", "--overcommit", "--cpus-per-task=1", "--time=1",
                    "--signal=B:USR1@30", f"--output={log}", TRAIN, "long.toml")
    lifted = []

    def bound_the_test_time(info):
        # Each attempt gets 20-40 s; after 3 requeues the rest is allowed to run to the end.
        if int(info.get("Restarts", 0)) >= 3 and not lifted:
            slurm_cmd(slurm, "scontrol", "update", f"JobId={job_id}", "TimeLimit=10")
            lifted.append(True)

    info = wait_until_ended(slurm, job_id, timeout=480, log=log, on_poll=bound_the_test_time)
    text = log.read_text()
    assert info["JobState"] == "COMPLETED", f"{info}\n{text[-3000:]}"
    restarts = int(info["Restarts"])
    assert restarts >= 1, f"the job was never requeued:\n{text}"
    assert text.count("SIGUSR1: asking fedcybgd to checkpoint") >= restarts
    assert text.count("stopped on signal after round") == restarts
    # (A warning in the very last round stops the run at round 48; its requeue then finds the run
    # complete and says so instead of resuming.)
    assert text.count("resumed from") + text.count("already completed 48 of 48") == restarts
    assert "run written to runs/long/" in text or "already completed 48 of 48" in text
    folder = tmp_path / "runs" / "long"
    assert history(folder, "round").tolist() == list(range(1, 49))
    assert_same_run(reference.result(), folder)
    print(f"requeued {restarts} times")


def test_scancel_leaves_a_loadable_checkpoint_and_a_new_submission_resumes_it(slurm, tmp_path, reference):
    (tmp_path / "long.toml").write_text(LONG.format(corpus=FORTUNES, every=2))
    log = tmp_path / "first.out"
    options = ["--ntasks=2", "--overcommit", "--cpus-per-task=1", "--time=10"]
    job_id = submit(slurm, tmp_path, *options, f"--output={log}", TRAIN, "long.toml", "--rounds", "20")
    wait_for_round(log, 5, timeout=120)
    slurm_cmd(slurm, "scancel", job_id)
    info = wait_until_ended(slurm, job_id, timeout=90, log=log)
    assert info["JobState"] == "CANCELLED" and info["Restarts"] == "0", info
    time.sleep(2)  # squeue -j may list a job as ended a moment before its last process is gone
    folder = tmp_path / "runs" / "long"
    checkpoint = newest(folder)
    with h5py.File(checkpoint, "r") as f:
        assert f.attrs["complete"] == 1
        stopped_at = int(f["state"]["round"][()])
        assert all(np.isfinite(f["model"][name][()]).all() for name in f["model"])
    assert 4 <= stopped_at < 20, log.read_text()

    log2 = tmp_path / "second.out"
    done = subprocess.run(["sbatch", "--wait", *options, f"--output={log2}", str(TRAIN), "long.toml", "--rounds", "20"],
                          env=slurm, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    text = log2.read_text()
    assert done.returncode == 0, f"{done.stderr}\n{text}"
    assert f"resumed from runs/long/{checkpoint.name} at round {stopped_at}" in text, text
    assert history(folder, "round").tolist() == list(range(1, 21))
    ref = reference.result()
    for column in ("block", "clients", "train_loss", "bytes_down", "bytes_up"):
        assert history(folder, column).tobytes() == history(ref, column)[:20].tobytes(), column


def job_ranks(submit_dir):
    """PIDs of the fedcybgd ranks a job submitted from `submit_dir` runs (their working folder)."""
    pids = []
    for entry in pathlib.Path("/proc").iterdir():
        try:
            if not entry.name.isdigit() or os.readlink(entry / "cwd") != str(submit_dir):
                continue
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if command[0].endswith(b"fedcybgd") and b"train" in command:
            pids.append(int(entry.name))
    return sorted(pids)


def crash_a_rank(env, submit_dir, log):
    """Submits LONG (20 rounds, a checkpoint every 2), kills a rank after round 5, waits for the end.
    SIGKILL, not SIGSEGV: Swift's crash handler reports a SIGSEGV that no fault raised, and the
    process then goes on."""
    (submit_dir / "long.toml").write_text(LONG.format(corpus=FORTUNES, every=2))
    job_id = submit(env, submit_dir, "--ntasks=2", "--overcommit", "--cpus-per-task=1", "--time=10",
                    f"--output={log}", TRAIN, "long.toml", "--rounds", "20")
    wait_for_round(log, 5, timeout=120)
    ranks = job_ranks(submit_dir)
    assert len(ranks) == 2, f"expected the job's 2 ranks, found {ranks}:\n{log.read_text()}"
    os.kill(ranks[-1], signal.SIGKILL)
    return wait_until_ended(env, job_id, timeout=300, log=log)


def test_a_rank_killed_by_a_signal_is_requeued_and_the_job_trains_like_an_uninterrupted_run(slurm, tmp_path,
                                                                                              reference):
    log = tmp_path / "crash.out"
    info = crash_a_rank(slurm, tmp_path, log)
    text = log.read_text()
    assert info["JobState"] == "COMPLETED" and info["Restarts"] == "1", f"{info}\n{text[-3000:]}"
    assert "a rank was killed by a signal" in text and "crash 1 of at most 3" in text, text
    assert "Comment=fedcybgd-crashes=1" in slurm_cmd(slurm, "scontrol", "show", "job", "-o", info["JobId"])
    assert re.search(r"resumed from runs/long/checkpoint-\d+\.h5 at round \d+", text), text
    folder = tmp_path / "runs" / "long"
    assert history(folder, "round").tolist() == list(range(1, 21))
    ref = reference.result()
    for column in ("block", "clients", "train_loss", "eval_loss", "bytes_down", "bytes_up"):
        assert history(folder, column).tobytes() == history(ref, column)[:20].tobytes(), column


def test_a_rank_killed_by_a_signal_past_the_crash_limit_stops_the_job_with_its_checkpoints(slurm, tmp_path):
    log = tmp_path / "crash.out"
    info = crash_a_rank(dict(slurm, FEDCYBGD_MAX_CRASH_REQUEUES="0"), tmp_path, log)
    text = log.read_text()
    assert info["JobState"] == "FAILED" and info["Restarts"] == "0", f"{info}\n{text[-3000:]}"
    assert "not requeueing after 0 such restarts (FEDCYBGD_MAX_CRASH_REQUEUES=0)" in text, text
    time.sleep(2)  # squeue -j may list a job as ended a moment before its last process is gone
    with h5py.File(newest(tmp_path / "runs" / "long"), "r") as f:
        assert f.attrs["complete"] == 1 and 4 <= int(f["state"]["round"][()]) < 20


def test_sweep_of_three_seeds_gives_three_runs_and_the_comparison_table(slurm, tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY.format(corpus=FORTUNES))
    env = dict(slurm, FEDCYBGD_OUTPUT=str(tmp_path / "out"))
    array_id = submit(env, tmp_path, "--array=0-2", "--ntasks=2", "--overcommit", "--cpus-per-task=1", "--time=5",
                      f"--output={tmp_path}/sweep-%a.out", SWEEP, "--seeds", "1,2,3", "tiny.toml")
    out = tmp_path / "out"
    marker = out / f"sweep-{array_id}" / ".table-job"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (marker.exists() and marker.read_text().strip()):
        time.sleep(1)
    logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("sweep-*.out")))
    assert marker.exists() and marker.read_text().strip(), f"no table job was submitted:\n{logs}"
    table_job = marker.read_text().strip().split(";")[0]
    info = wait_until_ended(env, table_job, timeout=240, log=out / f"sweep-{array_id}" / "compare.out")
    logs = "\n".join(p.read_text() for p in sorted(tmp_path.glob("sweep-*.out")))
    for task in slurm_cmd(env, "scontrol", "show", "job", "-o", array_id).splitlines():
        assert "JobState=COMPLETED" in task, f"{task}\n{logs}"
    finals = []
    for seed in (1, 2, 3):
        folder = out / f"tiny-seed{seed}"
        assert history(folder, "round").tolist() == list(range(1, 10)), logs
        with h5py.File(newest(folder), "r") as f:
            assert f.attrs["complete"] == 1
        assert f"seed = {seed}\n" in (out / f"sweep-{array_id}" / "jobs" / f"tiny-seed{seed}.toml").read_text()
        finals.append(float(history(folder, "eval_loss")[-1]))
    assert len(set(finals)) == 3, f"the seeds gave the same run: {finals}"
    compare_log = (out / f"sweep-{array_id}" / "compare.out").read_text()
    if not (ROOT / "analysis/compare_runs.py").exists():
        pytest.skip("analysis/compare_runs.py is not in this tree: the table step was not checked")
    assert info["JobState"] == "COMPLETED", f"{info}\n{compare_log}"
    table = (out / f"sweep-{array_id}" / "table.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| tiny-seed")]
    assert [row.split("|")[1].strip() for row in rows] == ["tiny-seed1", "tiny-seed2", "tiny-seed3"], table
