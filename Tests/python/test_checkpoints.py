"""Checkpoints under real failures: signals, SIGKILL of a rank at random moments, bad files.

Each resumed run must end with the same parameters and history as a run never interrupted.
"""
import os
import pathlib
import random
import signal
import subprocess
import time

import h5py
import numpy as np
import pytest

from conftest import BINARY, FORTUNES, ROOT, assert_same_parameters, small_tmpfs, wait_for_round

STOPPED = 75  # exit status of a run stopped by SIGTERM/SIGUSR1 after its checkpoint
JOB = """\
name = "fault"
output = "{output}"
seed = 7

[model]
layers = 2
width = 64
heads = 2

[data]
corpus = "{corpus}"

[train]
rounds = 48
clients_per_round = 2
local_steps = 16
batch = 8
sequence = 64
learning_rate = 3e-3
eval_batches = 2
checkpoint_every = {every}
threads = 1
"""
# Columns that describe the computation; timing columns and the broadcast size (a resumed run
# re-sends the whole model once) legitimately differ.
COMPARED = ["round", "cycle", "block", "clients", "train_loss", "eval_loss", "bytes_down", "bytes_up", "rejected_uploads"]


def write_job(folder: pathlib.Path, every: int = 1) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    job = folder / "fault.toml"
    job.write_text(JOB.format(output=folder / "runs", corpus=FORTUNES, every=every))
    return job


def command(job, ranks, *extra):
    base = [BINARY, "train", str(job), *extra]
    return base if ranks is None else ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks), *base]


def run(job, ranks=None, *extra, expect=0):
    done = subprocess.run(command(job, ranks, *extra), capture_output=True, text=True, timeout=600)
    assert done.returncode == expect, f"exit {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done


def newest(run_folder):
    return sorted(run_folder.glob("checkpoint-*.h5"))[-1]


def assert_same_run(a: pathlib.Path, b: pathlib.Path):
    with h5py.File(newest(a), "r") as fa, h5py.File(newest(b), "r") as fb:
        assert fa["state"]["round"][()] == fb["state"]["round"][()]
    assert_same_parameters(newest(a), newest(b))
    with h5py.File(a / "history.h5", "r") as ha, h5py.File(b / "history.h5", "r") as hb:
        for column in COMPARED:
            x, y = ha["history"][column][()], hb["history"][column][()]
            assert x.shape == y.shape, column
            assert x.tobytes() == y.tobytes(), column
        assert sorted(ha["blocks"]) == sorted(hb["blocks"])
        for block in ha["blocks"]:
            for column in ("round", "loss_before", "loss_after", "update_norm"):
                x, y = ha["blocks"][block]["visits"][column][()], hb["blocks"][block]["visits"][column][()]
                assert x.tobytes() == y.tobytes(), f"{block}/{column}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, on one rank."""
    folder = tmp_path_factory.mktemp("reference")
    run(write_job(folder))
    return folder / "runs" / "fault"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1])
def test_signal_gives_a_clean_checkpoint_and_exit_then_resume_equals_reference(tmp_path, reference, sig):
    job = write_job(tmp_path, every=0)
    process = subprocess.Popen(command(job, None), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = wait_for_round(process, 3)
    process.send_signal(sig)
    out, err = process.communicate(timeout=120)
    out = "".join(seen) + out
    assert process.returncode == STOPPED, f"{out}\n{err}"
    assert "stopped on signal" in out
    folder = tmp_path / "runs" / "fault"
    checkpoint = newest(folder)
    with h5py.File(checkpoint, "r") as f:
        assert f.attrs["complete"] == 1
        stopped_at = int(f["state"]["round"][()])
    assert 0 < stopped_at < 48
    assert not list(folder.glob("*.tmp"))
    resumed = run(job, None, "--resume")
    assert f"at round {stopped_at}" in resumed.stdout
    assert_same_run(reference, folder)


def test_sigusr1_to_mpirun_stops_every_rank_cleanly(tmp_path, reference):
    job = write_job(tmp_path, every=0)
    process = subprocess.Popen(command(job, 3), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_round(process, 3)
    process.send_signal(signal.SIGUSR1)  # mpirun forwards SIGUSR1 to every rank
    out, err = process.communicate(timeout=120)
    assert process.returncode == STOPPED, f"{out}\n{err}"
    run(job, 3, "--resume")
    assert_same_run(reference, tmp_path / "runs" / "fault")


def test_sigkill_of_a_rank_at_random_moments_then_resume_equals_reference(tmp_path, reference):
    rng = random.Random(20261125)
    hits_during_write = 0
    for trial in range(4):
        folder = tmp_path / f"trial{trial}"
        job = write_job(folder, every=1)
        run_folder = folder / "runs" / "fault"
        process = subprocess.Popen(command(job, 3), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        # A random round, then a random moment inside it (every round writes a checkpoint).
        wait_for_round(process, rng.randint(2, 40))
        time.sleep(rng.uniform(0.0, 0.15))
        victim = "server" if trial % 2 == 0 else "client"
        ranks = subprocess.run(["pgrep", "-f", f"^{BINARY} train {job}"], capture_output=True, text=True).stdout.split()
        ranks = sorted(int(pid) for pid in ranks)
        assert len(ranks) == 3, f"expected 3 rank processes, found {ranks}"
        hits_during_write += bool(list(run_folder.glob("*.tmp")))
        by_rank = {mpi_rank(pid): pid for pid in ranks}
        target = by_rank[0] if victim == "server" else by_rank[rng.choice([1, 2])]
        os.kill(target, signal.SIGKILL)
        process.communicate(timeout=120)
        assert process.returncode != 0
        for checkpoint in run_folder.glob("checkpoint-*.h5"):
            with h5py.File(checkpoint, "r") as f:  # every checkpoint left behind is whole
                assert f.attrs["complete"] == 1
        run(job, 3, "--resume")
        assert_same_run(reference, run_folder)
    print(f"{hits_during_write} of 4 kills landed while a checkpoint was being written")


def mpi_rank(pid: int) -> int:
    """The MPI rank of a process, from the environment mpirun gave it."""
    environment = pathlib.Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    for entry in environment:
        if entry.startswith(b"OMPI_COMM_WORLD_RANK="):
            return int(entry.split(b"=", 1)[1])
    raise AssertionError(f"process {pid} has no OMPI_COMM_WORLD_RANK")


def test_resume_passes_over_an_incomplete_newest_checkpoint(tmp_path, reference):
    job = write_job(tmp_path, every=4)
    run(job, None, "--rounds", "20")
    folder = tmp_path / "runs" / "fault"
    good = newest(folder)
    broken = folder / "checkpoint-000024.h5"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # a truncated file
    garbage = folder / "checkpoint-000028.h5"
    garbage.write_text("not an HDF5 file\n")
    before = good.read_bytes()
    done = run(job, None, "--resume")
    assert "passing over" in done.stderr and "checkpoint-000028.h5" in done.stderr and "checkpoint-000024.h5" in done.stderr
    assert "at round 20" in done.stdout
    assert not good.exists() or good.read_bytes() == before  # never rewritten in place
    assert_same_run(reference, folder)


def test_checkpoint_from_another_model_is_refused_with_one_line(tmp_path):
    job = write_job(tmp_path, every=0)
    run(job, None, "--rounds", "4")
    job.write_text(job.read_text().replace("width = 64", "width = 96"))
    done = run(job, None, "--resume", "--force", expect=1)
    lines = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, done.stderr
    assert "checkpoint-000004.h5" in lines[0] and "transformer." in lines[0]


def test_changed_job_is_refused_naming_the_keys_unless_safe(tmp_path):
    job = write_job(tmp_path, every=0)
    run(job, None, "--rounds", "4")
    job.write_text(job.read_text().replace("learning_rate = 3e-3", "learning_rate = 1e-2"))
    done = run(job, None, "--resume", "--rounds", "6", expect=1)
    assert "train.learning_rate" in done.stderr and "--force" in done.stderr
    assert "train.rounds" not in done.stderr.split("(")[0]
    done = run(job, None, "--resume", "--rounds", "6", "--force")
    with h5py.File(tmp_path / "runs" / "fault" / "history.h5", "r") as f:
        assert "train.learning_rate: 0.003 → 0.01" in f.attrs["resume_log"]
        assert f["history"]["round"].shape == (6,)


def test_resume_without_a_checkpoint_names_the_folder(tmp_path):
    folder = tmp_path / "runs" / "nothing"
    folder.mkdir(parents=True)
    done = subprocess.run([BINARY, "resume", str(folder)], capture_output=True, text=True)
    assert done.returncode != 0
    assert str(folder) in done.stderr and "no complete checkpoint" in done.stderr


def stopped_run(tmp_path, stop_round):
    """A run stopped by SIGUSR1 at about `stop_round`, checkpointing every round; its folder."""
    job = write_job(tmp_path, every=1)
    process = subprocess.Popen(command(job, None), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_round(process, stop_round)
    process.send_signal(signal.SIGUSR1)
    process.communicate(timeout=120)
    assert process.returncode == STOPPED
    return job, tmp_path / "runs" / "fault"


@pytest.mark.parametrize("damage", ["scrambled", "truncated", "deleted"])
def test_history_damaged_or_lost_is_rebuilt_from_the_checkpoint_on_resume(tmp_path, reference, damage):
    job, folder = stopped_run(tmp_path, 9)
    history = folder / "history.h5"
    with h5py.File(newest(folder), "r") as f:
        assert f["history_copy"].attrs["units"] == "byte"  # the copy the rebuild reads
    data = bytearray(history.read_bytes())
    if damage == "scrambled":  # what a kill or a full disk inside an append can leave
        for i in range(len(data) // 2, len(data) // 2 + 4000):
            data[i] ^= 0x5A
        history.write_bytes(bytes(data))
    elif damage == "truncated":
        history.write_bytes(bytes(data[: len(data) // 3]))
    else:
        history.unlink()
    resumed = run(job, 3, "--resume")
    assert "restored from" in resumed.stderr and "history.h5" in resumed.stderr, resumed.stderr
    assert_same_run(reference, folder)


@pytest.mark.parametrize("damage", ["scrambled", "deleted"])
def test_inspect_reports_from_the_checkpoints_copy_when_history_is_damaged_or_lost(tmp_path, damage):
    _, folder = stopped_run(tmp_path, 6)
    shown = lambda: subprocess.run([BINARY, "inspect", str(folder)], capture_output=True, text=True, timeout=120)
    before = shown()
    assert before.returncode == 0 and "note:" not in before.stdout, before.stderr
    history = folder / "history.h5"
    if damage == "scrambled":
        data = bytearray(history.read_bytes())
        for i in range(len(data) // 2, len(data) // 2 + 4000):
            data[i] ^= 0x5A
        history.write_bytes(bytes(data))
    else:
        history.unlink()
    after = shown()
    assert after.returncode == 0, after.stderr
    notes = [line for line in after.stdout.splitlines() if line.startswith("note:")]
    assert len(notes) == 1 and newest(folder).name in notes[0], after.stdout
    assert ("is missing" if damage == "deleted" else "cannot be read") in notes[0], notes[0]
    kept = ("history:", "best eval loss", "totals so far", "visits per block")
    assert [l for l in after.stdout.splitlines() if l.startswith(kept)] == \
        [l for l in before.stdout.splitlines() if l.startswith(kept)]
    assert not history.exists() or damage == "scrambled"  # inspect wrote nothing into the run folder


def test_history_without_a_copy_is_refused_in_one_line_and_nothing_hangs(tmp_path):
    job, folder = stopped_run(tmp_path, 4)
    for checkpoint in folder.glob("checkpoint-*.h5"):  # as an older fedcybgd wrote them
        with h5py.File(checkpoint, "r+") as f:
            del f["history_copy"]
    (folder / "history.h5").write_bytes(b"\0" * 100)
    done = run(job, 3, "--resume", expect=1)
    lines = [line for line in done.stderr.splitlines() if "history" in line]
    assert lines and "holds no copy" in lines[0] and "--replace" in lines[0], done.stderr


def test_checkpoint_changed_on_disk_is_detected_passed_over_and_never_trained_on(tmp_path, reference):
    job, folder = stopped_run(tmp_path, 9)
    damaged = newest(folder)
    with h5py.File(damaged, "r") as f:
        wte = f["model"]["transformer.wte.weight"]
        assert len(wte.attrs["checksum64"]) == 16
        offset = wte.id.get_offset()
    data = bytearray(damaged.read_bytes())
    for i in range(offset + 1000, offset + 1008):  # eight bytes inside the token embedding
        data[i] ^= 0xFF
    damaged.write_bytes(bytes(data))
    shown = subprocess.run([BINARY, "inspect", str(folder)], capture_output=True, text=True, timeout=120)
    assert any("DAMAGED" in line and damaged.name in line for line in shown.stdout.splitlines()), shown.stdout
    sampled = subprocess.run([BINARY, "sample", str(folder), "--prompt", "Q:", "--tokens", "4"],
                             capture_output=True, text=True, timeout=120)
    assert sampled.returncode == 0 and "passing over" in sampled.stderr and "transformer.wte.weight" in sampled.stderr
    resumed = run(job, 3, "--resume")
    assert f"passing over {damaged}" in resumed.stderr and "does not match its checksum" in resumed.stderr, resumed.stderr
    assert_same_run(reference, folder)


def test_full_disk_stops_every_rank_in_one_line_and_the_run_resumes_once_space_is_freed(tmp_path, reference):
    with small_tmpfs(tmp_path / "disk", "3m") as disk:
        job = write_job(disk, every=1)
        full = run(job, 3, expect=74)  # EX_IOERR: a full disk, not a crash (139) and not a hang
        said = [line for line in full.stderr.splitlines() if "is full" in line]
        assert len(said) == 1 and "fedcybgd resume" in said[0], full.stderr
        folder = disk / "runs" / "fault"
        checkpoints = sorted(folder.glob("checkpoint-*.h5"))
        assert checkpoints and not list(folder.glob("*.tmp"))
        for checkpoint in checkpoints:
            with h5py.File(checkpoint, "r") as f:
                assert f.attrs["complete"] == 1
        subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        run(job, 3, "--resume")
        assert_same_run(reference, folder)
