"""`train.embedding_shards = S` run for real: the embeddings (block 0) are trained as S units of
vocabulary rows, each its own round of the cycle. One rank against mpirun -n 3, a resume, and
what the history says of each round.
"""

import h5py
import numpy as np

from conftest import run_job

JOB = """\
name = "shards"
output = "{output}"
seed = 11

[model]
layers = 2
width = 32
heads = 2
context = 32

[data]
corpus = "{corpus}"

[train]
cycles = 2
clients_per_round = 2
local_steps = 2
batch = 4
sequence = 32
learning_rate = 3e-3
eval_batches = 2
threads = 1
embedding_shards = 4
"""
SHARDS, VOCAB, WIDTH, CONTEXT, LAYERS = 4, 256, 32, 32, 2
CYCLE = LAYERS + 1 + SHARDS  # the shards, the layers and the final norm: 7 rounds
HEADER = 48  # bytes of an upload header
COMPARED = ["round", "cycle", "block", "embedding_shard", "clients", "train_loss", "bytes_down", "bytes_up",
            "rejected_uploads"]


def run(folder, ranks=None, *extra):
    return run_job(folder, ranks or None, JOB, "shards", extra)[0]


def model(run_folder):
    with h5py.File(sorted(run_folder.glob("checkpoint-*.h5"))[-1], "r") as f:
        return {name: f["model"][name][()].tobytes() for name in f["model"]}


def history(run_folder):
    with h5py.File(run_folder / "history.h5", "r") as f:
        return {name: f["history"][name][()] for name in COMPARED + ["eval_loss"]}


def test_shards_under_mpirun_equal_one_rank_and_resume_bit_exactly(tmp_path):
    one, three = run(tmp_path / "p1", None), run(tmp_path / "p3", 3)
    assert model(one) == model(three)
    h1, h3 = history(one), history(three)
    for name in COMPARED + ["eval_loss"]:
        assert h1[name].tobytes() == h3[name].tobytes(), name
    # Stop after round 9 (the second shard of cycle 2), resume on 3 ranks to the end.
    split = run(tmp_path / "resumed", 3, "--rounds", "9")
    run(tmp_path / "resumed", 3, "--resume", "--rounds", str(2 * CYCLE))
    assert model(split) == model(one)
    hs = history(split)
    for name in COMPARED:
        assert hs[name].tobytes() == h1[name].tobytes(), name
    evaluated = ~np.isnan(h1["eval_loss"])
    assert hs["eval_loss"][evaluated].tobytes() == h1["eval_loss"][evaluated].tobytes()


def test_each_shard_is_its_own_round_and_uploads_its_rows(tmp_path):
    folder = run(tmp_path, None)
    groups = -(-VOCAB // 16)
    rows = [16 * ((s + 1) * groups // SHARDS) - 16 * (s * groups // SHARDS) for s in range(SHARDS)]
    floats = [r * WIDTH + (CONTEXT * WIDTH if s == SHARDS - 1 else 0) for s, r in enumerate(rows)]
    with h5py.File(folder / "history.h5", "r") as f:
        h = f["history"]
        shard, block, up = h["embedding_shard"][()], h["block"][()], h["bytes_up"][()]
        assert "shard" in h["embedding_shard"].attrs["description"]
        assert list(shard[:CYCLE]) == [0, 1, 2, 3, -1, -1, -1]
        assert list(block[:CYCLE]) == [0, 0, 0, 0, 1, 2, 3]
        for r in range(2 * CYCLE):
            if shard[r] >= 0:
                # Two clients, each a header and the shard's values in fp32.
                assert up[r] == 2 * (HEADER + 4 * floats[shard[r]]), f"round {r + 1}"
        layer = 2 * (HEADER + 4 * (12 * WIDTH * WIDTH + 13 * WIDTH))
        assert up[CYCLE - 3] == layer
        visits = f["blocks/embeddings/visits"]
        assert list(visits["embedding_shard"][()]) == [0, 1, 2, 3] * 2
        # Delta sync per unit: round 2's broadcast carries only the shard round 1 changed
        # (13 bytes of unit header plus its values) and the round header.
        broadcast = h["bytes_broadcast"][()]
        assert 0 <= broadcast[1] - (13 + 4 * floats[0]) < 64
