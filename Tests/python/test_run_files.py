"""Reads fedcybgd's HDF5 run files with h5py and the HDF5 command-line tools, not with our own reader."""
import re
import subprocess

import h5py
import numpy as np

from conftest import TINY_JOB, run_job

HISTORY_COLUMNS = {
    "round": np.int64, "cycle": np.int32, "block": np.int32, "clients": np.int32,
    "train_loss": np.float32, "eval_loss": np.float32, "bytes_down": np.int64, "bytes_up": np.int64,
    "bytes_broadcast": np.int64, "rejected_uploads": np.int32, "seconds": np.float64,
    "server_cpu_seconds": np.float64,
}
ROUNDS, LAYERS, WIDTH, VOCAB, CONTEXT = 9, 2, 32, 256, 32


def newest_checkpoint(run):
    checkpoints = sorted(run.glob("checkpoint-*.h5"))
    assert checkpoints, f"no checkpoint in {run}"
    return checkpoints[-1]


def model_of(path):
    with h5py.File(path, "r") as f:
        return {name: f["model"][name][()] for name in f["model"]}


def test_history_has_one_row_per_round_with_described_columns(single_rank_run):
    run, _ = single_rank_run
    with h5py.File(run / "history.h5", "r") as f:
        assert f.attrs["program"] == "fedcybgd"
        assert isinstance(f.attrs["job"], str) and 'name = "tiny"' in f.attrs["job"]
        history = f["history"]
        for column, dtype in HISTORY_COLUMNS.items():
            data = history[column]
            assert data.dtype == dtype, column
            assert data.shape[0] == ROUNDS, column
            assert data.chunks is not None and data.maxshape[0] is None, f"{column} must be chunked and extendible"
            assert isinstance(data.attrs["description"], str) and data.attrs["description"], column
            assert isinstance(data.attrs["units"], str), column
        assert history["clients"].shape == (ROUNDS, 2)
        np.testing.assert_array_equal(history["round"][()], np.arange(1, ROUNDS + 1))
        np.testing.assert_array_equal(history["block"][()], np.arange(ROUNDS) % (LAYERS + 2))
        assert history["train_loss"].attrs["units"] == "nats/byte"


def test_a_byte_model_with_a_larger_vocabulary_measures_nats_per_byte(tmp_path):
    """The loss unit is the tokenizer's: model.vocab = 512 with the byte tokenizer is still per byte."""
    job = TINY_JOB.replace("heads = 2\n", "heads = 2\nvocab = 512\n").replace("rounds = 9", "rounds = 2")
    run, stdout = run_job(tmp_path, None, job)
    assert re.search(r"eval loss \S+ → \S+ nats/byte;", stdout), stdout
    assert "nats/token" not in stdout
    with h5py.File(run / "history.h5", "r") as f:
        assert f["history/eval_loss"].attrs["units"] == "nats/byte"
        assert f["summary"].attrs["final_eval_loss_units"] == "nats/byte"
    with h5py.File(sorted(run.glob("checkpoint-*.h5"))[-1], "r") as f:
        assert f["model"].attrs["vocab_size"] == 512


def parse_progress(stdout):
    pattern = re.compile(r"round\s+(\d+)/(\d+)\s+cycle (\d+)\s+block (\S+)\s+clients (\S+)\s+train\s+(\S+)\s+eval\s+(\S*)\s+down")
    rows = [pattern.search(line) for line in stdout.splitlines() if line.startswith("round")]
    return [m.groups() for m in rows if m]


def test_history_matches_what_the_program_printed(single_rank_run):
    run, stdout = single_rank_run
    printed = parse_progress(stdout)
    assert len(printed) == ROUNDS
    with h5py.File(run / "history.h5", "r") as f:
        h = f["history"]
        for i, (rnd, total, cycle, _block, clients, train, evaluated) in enumerate(printed):
            assert int(rnd) == h["round"][i] and int(total) == ROUNDS
            assert int(cycle) == h["cycle"][i]
            assert [int(c) for c in clients.split(",")] == list(h["clients"][i])
            assert abs(float(train) - h["train_loss"][i]) < 6e-4
            if evaluated:
                assert abs(float(evaluated) - h["eval_loss"][i]) < 6e-4
            else:
                assert np.isnan(h["eval_loss"][i])
        final_eval = h["eval_loss"][-1]
        assert np.isfinite(final_eval)
        summary = f["summary"]
        assert abs(summary.attrs["final_eval_loss"] - final_eval) < 1e-6
        assert summary.attrs["total_bytes_up"] == h["bytes_up"][()].sum()
        assert summary.attrs["total_bytes_down"] == h["bytes_down"][()].sum()


def test_checkpoint_holds_the_model_with_hugging_face_names_and_shapes(single_rank_run):
    run, _ = single_rank_run
    path = newest_checkpoint(run)
    with h5py.File(path, "r") as f:
        assert f.attrs["complete"] == 1
        assert 'name = "tiny"' in f["config"].attrs["job"]
        model = f["model"]
        assert model["transformer.wte.weight"].shape == (VOCAB, WIDTH)
        assert model["transformer.wpe.weight"].shape == (CONTEXT, WIDTH)
        assert model["transformer.h.1.attn.c_attn.weight"].shape == (WIDTH, 3 * WIDTH)
        assert model["transformer.h.1.mlp.c_proj.weight"].shape == (4 * WIDTH, WIDTH)
        assert model["transformer.ln_f.bias"].shape == (WIDTH,)
        assert len(model) == 2 + 12 * LAYERS + 2
        for name in model:
            assert model[name].dtype == np.float32 and np.all(np.isfinite(model[name][()])), name
        assert int(np.asarray(f["state"]["round"][()]).reshape(-1)[0]) == ROUNDS


def test_one_rank_and_three_ranks_give_bit_identical_parameters(single_rank_run, three_rank_run):
    one = model_of(newest_checkpoint(single_rank_run[0]))
    three = model_of(newest_checkpoint(three_rank_run[0]))
    assert one.keys() == three.keys()
    for name in one:
        assert one[name].tobytes() == three[name].tobytes(), name
    with h5py.File(single_rank_run[0] / "history.h5", "r") as a, h5py.File(three_rank_run[0] / "history.h5", "r") as b:
        for column in ("train_loss", "eval_loss", "bytes_down", "bytes_up", "clients"):
            np.testing.assert_array_equal(a["history"][column][()], b["history"][column][()])


def test_h5dump_and_h5ls_read_every_file_kind(single_rank_run):
    run, _ = single_rank_run
    for path in [run / "history.h5", newest_checkpoint(run)]:
        header = subprocess.run(["h5dump", "-H", str(path)], capture_output=True, text=True)
        assert header.returncode == 0, header.stderr
        assert "DATASET" in header.stdout
        listing = subprocess.run(["h5ls", "-r", str(path)], capture_output=True, text=True)
        assert listing.returncode == 0, listing.stderr
    assert "/history/train_loss" in subprocess.run(["h5ls", "-r", str(run / "history.h5")], capture_output=True, text=True).stdout


def test_history_can_be_read_while_the_job_runs(tmp_path):
    """A reader opens history.h5 between rounds, and even holds it open, and the job goes on."""
    import os
    import subprocess as sp
    import time

    from conftest import BINARY, FORTUNES, TINY_JOB

    job = tmp_path / "live.toml"
    job.write_text(TINY_JOB.format(output=tmp_path / "runs", corpus=FORTUNES)
                   .replace("rounds = 9", "rounds = 100").replace("local_steps = 2", "local_steps = 60"))
    history = tmp_path / "runs" / "tiny" / "history.h5"
    env = dict(os.environ, HDF5_USE_FILE_LOCKING="FALSE")
    process = sp.Popen([BINARY, "train", str(job)], stdout=sp.PIPE, stderr=sp.PIPE, text=True)
    rows_seen = []
    deadline = time.time() + 120
    while process.poll() is None and time.time() < deadline:
        if history.exists():
            reader = sp.run(["python3", "-c", "import h5py,sys; f=h5py.File(sys.argv[1],'r'); "
                             "print(f['history/round'].shape[0]); import time; time.sleep(0.5)", str(history)],
                            capture_output=True, text=True, env=env)
            if reader.returncode == 0:
                rows_seen.append(int(reader.stdout))
        time.sleep(0.05)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert sum(rows < 100 for rows in rows_seen) >= 3 and rows_seen == sorted(rows_seen), rows_seen
    with h5py.File(history, "r") as f:
        np.testing.assert_array_equal(f["history/round"][()], np.arange(1, 101))


def test_snapshots_and_keep_checkpoints(tmp_path):
    """train.snapshots stores each block after every visit; train.keep_checkpoints keeps the newest K."""
    import subprocess as sp

    from conftest import BINARY, FORTUNES, TINY_JOB

    job = tmp_path / "snap.toml"
    job.write_text(TINY_JOB.format(output=tmp_path / "runs", corpus=FORTUNES)
                   + "checkpoint_every = 1\nkeep_checkpoints = 2\nsnapshots = true\n")
    done = sp.run([BINARY, "train", str(job)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    run = tmp_path / "runs" / "tiny"
    checkpoints = sorted(run.glob("checkpoint-*.h5"))
    assert [c.name for c in checkpoints] == ["checkpoint-000008.h5", "checkpoint-000009.h5"]
    with h5py.File(run / "history.h5", "r") as f, h5py.File(checkpoints[-1], "r") as final:
        blocks = f["blocks"]
        for name in blocks:
            visits = blocks[name]["visits"]["round"][()]
            np.testing.assert_array_equal(blocks[name]["snapshot_rounds"][()], visits)
            last = blocks[name]["snapshots"][-1]
            index = int(blocks[name].attrs["block"])
            tensors = [t for t in final["model"] if int(final["model"][t].attrs["block"]) == index]
            total = sum(final["model"][t].size for t in tensors)
            assert last.shape == (total,), name
            ordered = sorted(tensors, key=lambda t: int(final["model"][t].attrs["offset"]))
            flat = np.concatenate([final["model"][t][()].ravel() for t in ordered])
            assert last.tobytes() == flat.tobytes(), name



def test_every_group_and_dataset_is_described(single_rank_run):
    run, _ = single_rank_run
    for path in [run / "history.h5", newest_checkpoint(run), run / "partition.h5"]:
        undescribed = []

        def visit(name, item):
            if "description" not in item.attrs or "units" not in item.attrs:
                undescribed.append(name)

        with h5py.File(path, "r") as f:
            f.visititems(visit)
        assert not undescribed, f"{path.name}: {undescribed}"
        assert subprocess.run(["h5dump", "-H", str(path)], capture_output=True).returncode == 0


def test_a_history_written_before_the_newer_columns_still_reads(single_rank_run, tmp_path):
    """Runs begun before `embedding_shard`, `eval_exact_match` and `eval_f1` existed: `inspect`
    reads them, with those columns as padding."""
    import shutil
    from conftest import BINARY

    run_folder, _ = single_rank_run
    old = tmp_path / "old"
    shutil.copytree(run_folder, old)
    with h5py.File(old / "history.h5", "a") as f:
        for name in ("embedding_shard", "eval_exact_match", "eval_f1"):
            del f["history"][name]
        rows = len(f["history/round"])
    shown = subprocess.run([BINARY, "inspect", str(old)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert f"last round {rows} of {rows}" in shown.stdout, shown.stdout
