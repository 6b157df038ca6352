"""Jobs are sized before they start (issue 12): `train --dry-run`'s per-rank estimate against the
peak RSS each rank records in history.h5 (`rank_peak_rss`), on the GPT-2-small-shaped
jobs/memory-*.toml runs under mpirun -n 3, kept to two rounds (FedCyBGD's peak is in its first
two rounds, the embeddings and the first layer, which keep every layer's activations).
"""
import re
import subprocess

import h5py
import pytest

from conftest import BINARY, ROOT

RANKS = 3
UNITS = {"B": 1, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def amount(text: str) -> float:
    number, unit = text.split()
    return float(number) * UNITS[unit]


def dry_run(job: str) -> tuple[float, float]:
    command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(RANKS), BINARY, "train", job, "--dry-run"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    found = re.search(r"rank 0 \(server\) ([\d.]+ [KMGT]?B); ranks 1-\d+ \(clients\) ([\d.]+ [KMGT]?B) each", done.stdout)
    assert found, done.stdout
    return amount(found.group(1)), amount(found.group(2))


@pytest.mark.parametrize("method", ["fedcybgd", "fedavg", "fedlora", "llama-fedcybgd", "llama-fedavg", "llama-fedcybgd-shards"])
def test_estimate_is_within_25_percent_of_the_measured_peak_rss(tmp_path, method):
    job = f"jobs/memory-{method}.toml"
    server, client = dry_run(job)
    command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(RANKS), BINARY, "train", job,
               "--output", str(tmp_path), "--rounds", "2"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert done.returncode == 0, f"{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    with h5py.File(tmp_path / f"memory-{method}" / "history.h5", "r") as f:
        peaks = f["history"]["rank_peak_rss"][()].max(axis=0)
    measured = {"server": float(peaks[0]), "client": float(peaks[1:].max())}
    estimated = {"server": server, "client": client}
    report = ", ".join(f"{role} estimated {estimated[role] / 1e6:.0f} MB, measured {measured[role] / 1e6:.0f} MB "
                       f"({estimated[role] / measured[role] - 1:+.1%})" for role in ("server", "client"))
    print(f"{method}: {report}")
    for role in ("server", "client"):
        assert abs(estimated[role] / measured[role] - 1) <= 0.25, f"{method}: {report}"
