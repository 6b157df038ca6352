"""The round options and the Dirichlet partition, run for real: one rank against mpirun -n 3."""
import subprocess

import h5py
import numpy as np

from conftest import BINARY, FORTUNES, ROOT, assert_same_parameters

JOB = """\
name = "options"
output = "{output}"
seed = 5

[model]
layers = 3
width = 32
heads = 2

[data]
corpus = "{corpus}"
partition = "dirichlet"
clients = 12
dirichlet_alpha = 0.2

[train]
rounds = 9
clients_per_round = 3
local_epochs = 0.02
batch = 4
sequence = 32
learning_rate = 3e-3
eval_batches = 2
threads = 1
blocks = "layers"
block_order = "random"
client_selection = "random"
lr_schedule = "cosine"
warmup_rounds = 2

[server]
update_norm_multiple = 20
"""


def run(tmp, ranks):
    tmp.mkdir(parents=True, exist_ok=True)
    job = tmp / "options.toml"
    job.write_text(JOB.format(output=tmp / "runs", corpus=FORTUNES))
    command = [BINARY, "train", str(job)]
    if ranks:
        command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks)] + command
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return tmp / "runs" / "options"


def test_options_under_mpirun_equal_one_rank_and_follow_the_plan(tmp_path):
    one, three = run(tmp_path / "p1", None), run(tmp_path / "p3", 3)
    c1, c3 = sorted(one.glob("checkpoint-*.h5"))[-1], sorted(three.glob("checkpoint-*.h5"))[-1]
    assert_same_parameters(c1, c3)
    with h5py.File(one / "history.h5", "r") as f:
        blocks = f["history/block"][()]
        # "layers" visits blocks 1..3 only; "random" order is a permutation per cycle of 3 rounds.
        assert set(blocks) <= {1, 2, 3}
        for cycle in range(3):
            assert sorted(blocks[3 * cycle: 3 * cycle + 3]) == [1, 2, 3]
        assert list(blocks[:3]) != [1, 2, 3] or list(blocks[3:6]) != [1, 2, 3], "random order should differ from ascending"
        clients = f["history/clients"][()]
        assert all(len(set(row)) == 3 for row in clients), "random selection is without replacement"


def test_dirichlet_partition_is_recorded_with_its_label_mix(tmp_path):
    run_folder = run(tmp_path / "p1", None)
    with h5py.File(run_folder / "partition.h5", "r") as f:
        assert f.attrs["scheme"] == "dirichlet"
        mix = f["label_tokens"][()]
        sizes = f["client_tokens"][()]
        labels = f.attrs["labels"].split("\n")
        assert mix.shape == (12, len(labels)) and len(labels) == 43
        np.testing.assert_array_equal(mix.sum(axis=1), sizes)
        shares = mix / mix.sum(axis=1, keepdims=True)
        # alpha = 0.2 concentrates each client on few categories: the largest share is far above uniform (1/43).
        assert shares.max(axis=1).mean() > 0.2


def test_faulty_clients_under_mpirun_are_rejected_and_recorded(tmp_path):
    """FEDCYBGD_FAULTS makes listed clients send NaN, short, huge or 1000x uploads, over real MPI."""
    import os

    from conftest import TINY_JOB

    results = {}
    for ranks in (None, 3):
        folder = tmp_path / f"ranks{ranks}"
        folder.mkdir()
        job = folder / "faulty.toml"
        job.write_text(TINY_JOB.format(output=folder / "runs", corpus=FORTUNES))
        command = [BINARY, "train", str(job)]
        if ranks:
            command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks)] + command
        env = dict(os.environ, FEDCYBGD_FAULTS="1:nan,4:short,7:huge,10:scale1000")
        done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        assert "rejected uploads 4" in done.stdout
        run = folder / "runs" / "tiny"
        with h5py.File(run / "history.h5", "r") as f:
            # Clients go two a round in turn: 1 trains in round 1, 4 in round 3, 7 in round 4, 10 in round 6.
            np.testing.assert_array_equal(f["history/rejected_uploads"][()], [1, 0, 1, 1, 0, 1, 0, 0, 0])
            assert f["summary"].attrs["rejected_uploads"] == 4
        with h5py.File(sorted(run.glob("checkpoint-*.h5"))[-1], "r") as f:
            results[ranks] = {name: f["model"][name][()].tobytes() for name in f["model"]}
            assert all(np.isfinite(f["model"][name][()]).all() for name in f["model"])
    assert results[None] == results[3]
