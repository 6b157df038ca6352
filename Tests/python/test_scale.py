"""Scale in the number of clients (docs/PERFORMANCE.md, "Scale"): the same small job with 16 and
with 1,024 virtual clients on 3 ranks of one host. What a round moves and what a rank holds must
not grow with the clients: the server's work per round is k uploads of the round's block, and a
rank keeps the model once, not once per client.

- 1,024 clients are accepted and every client gets at least one training window;
- every round broadcasts and uploads exactly the same bytes with 16 and with 1,024 clients
  (same k, same blocks);
- each rank's peak RSS grows by less than a quarter of one layer block per added client (a
  per-client copy of a block, of its optimizer state or of the model would exceed it many times);
- the checkpoint grows by no more than the per-client download state (16 bytes per client
  and unit), far less than a per-client copy of a block.

The figures at GPT-2-small shape come from scripts/scale-bench.sh (docs/measurements/scale.txt).
"""
import os
import pathlib
import shutil
import subprocess

import h5py
import pytest

from conftest import BINARY, FORTUNES, ROOT

FEW, MANY = 16, 1024
RANKS = 3
SEQUENCE = 32
K = 4

JOB = """\
name = "scale-{clients}"
output = "{output}"
seed = 5

[model]
layers = 2
width = 64
heads = 2

[data]
corpus = "{corpus}"
partition = "iid"
clients = {clients}

[train]
rounds = 5
clients_per_round = {k}
client_selection = "random"
local_steps = 1
batch = 2
sequence = {sequence}
learning_rate = 3e-3
eval_batches = 1
threads = 1
"""


def train(tmp: pathlib.Path, clients: int) -> pathlib.Path:
    """Runs the job with `clients` clients on RANKS ranks; returns its run folder."""
    job = tmp / f"scale-{clients}.toml"
    job.write_text(JOB.format(clients=clients, output=tmp / "runs", corpus=FORTUNES, k=K, sequence=SEQUENCE))
    command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(RANKS), BINARY, "train", str(job)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return tmp / "runs" / f"scale-{clients}"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    if not shutil.which("mpirun"):
        pytest.skip("no mpirun: install openmpi-bin")
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"no fedcybgd binary at {BINARY}; run 'make test', which builds it")
    tmp = tmp_path_factory.mktemp("scale")
    return {n: train(tmp, n) for n in (FEW, MANY)}


def history(folder):
    with h5py.File(folder / "history.h5", "r") as f:
        h = f["history"]
        return {name: h[name][()] for name in ("block", "clients", "bytes_broadcast", "bytes_up", "rank_peak_rss")}


def layer_block_bytes(folder):
    """Bytes of one transformer layer's parameters (block 1), from the newest checkpoint."""
    newest = sorted(folder.glob("checkpoint-*.h5"))[-1]
    with h5py.File(newest, "r") as f:
        block = 4 * sum(f["model"][name].size for name in f["model"] if ".h.0." in name)
    assert block > 0, "no layer h.0 in the checkpoint's /model"
    return block


def test_every_one_of_1024_clients_gets_training_data(runs):
    with h5py.File(runs[MANY] / "partition.h5", "r") as f:
        tokens = f["client_tokens"][()]
    assert len(tokens) == MANY
    assert tokens.min() >= SEQUENCE + 1, tokens.min()
    picked = history(runs[MANY])["clients"]
    assert picked.max() >= FEW, picked  # random selection reaches clients a 16-client run has not


def test_a_round_moves_the_same_bytes_with_16_and_1024_clients(runs):
    few, many = history(runs[FEW]), history(runs[MANY])
    assert few["block"].tolist() == many["block"].tolist()
    assert few["bytes_broadcast"].tolist() == many["bytes_broadcast"].tolist()
    assert few["bytes_up"].tolist() == many["bytes_up"].tolist()
    # k uploads of the round's block: the 4 layer rounds (2..3 and a cycle later) upload alike.
    assert len(set(few["bytes_up"][1:3].tolist())) == 1 and few["bytes_up"][1] > 0


def test_a_ranks_peak_memory_does_not_grow_with_the_clients(runs):
    few, many = history(runs[FEW])["rank_peak_rss"][-1], history(runs[MANY])["rank_peak_rss"][-1]
    assert (few > 0).all() and (many > 0).all(), (few, many)
    block = layer_block_bytes(runs[MANY])
    added = MANY - FEW
    bound = added * block // 4  # a quarter of a layer block per added client, about 50 MB here
    growth = many - few
    print(f"peak RSS per rank, {FEW} -> {MANY} clients: {few.tolist()} -> {many.tolist()} bytes; "
          f"growth {growth.tolist()}, bound {bound} (a layer block is {block} bytes)")
    assert (growth < bound).all(), (growth.tolist(), bound)


def test_the_checkpoint_grows_by_the_download_state_only(runs):
    sizes = {n: sorted(runs[n].glob("checkpoint-*.h5"))[-1].stat().st_size for n in (FEW, MANY)}
    with h5py.File(sorted(runs[MANY].glob("checkpoint-*.h5"))[-1], "r") as f:
        units = f["state"]["client_unit_version"].shape[1]
        assert f["state"]["client_unit_version"].shape[0] == MANY
    # Per client and unit an int64 version and an int64 flag; plus HDF5's slack.
    allowed = (MANY - FEW) * units * 16 + 64 * 1024
    print(f"checkpoint, {FEW} -> {MANY} clients: {sizes[FEW]} -> {sizes[MANY]} bytes (allowed growth {allowed})")
    assert sizes[MANY] - sizes[FEW] <= allowed, (sizes, allowed)
    assert allowed < (MANY - FEW) * layer_block_bytes(runs[MANY]) // 100
