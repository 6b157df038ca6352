"""The runs of a reproduction (scripts/reproduce.py) read back from their files, and the noise
rule its verdicts follow. analysis/reproduce_report.py turns them into docs/REPRODUCTION.md.

Nothing here is typed in: every figure is read from history.h5, checkpoints, partition.h5 or the
reproduction.json and timings.json the driver writes."""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import pathlib

import h5py
import numpy as np

import runfiles

UPLOAD_HEADER_BYTES = 48  # docs/RUN-FILES.md: each upload is a 48-byte header and the encoded block


@dataclasses.dataclass
class Estimate:
    """The mean and sample standard deviation of one figure over seeds."""
    values: list[float]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else math.nan

    def text(self, digits: int = 4) -> str:
        if not self.values:
            return "n/a"
        if len(self.values) == 1:
            return f"{self.mean:.{digits}f}"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def verdict(claimed: Estimate, other: Estimate, lower_is_better: bool) -> tuple[str, float, float]:
    """("met" | "missed" | "within noise", difference, twice the combined standard deviation).

    The claim is that `claimed` is better than `other`. A difference counts only where it exceeds
    twice the combined standard deviation sqrt(s_a² + s_b²) of the two means' seeds; with fewer
    than two seeds on either side there is no noise estimate and the verdict is "within noise"."""
    difference = (other.mean - claimed.mean) if lower_is_better else (claimed.mean - other.mean)
    noise = 2.0 * math.sqrt(claimed.std ** 2 + other.std ** 2)
    if not math.isfinite(noise):
        return "within noise", difference, noise
    if difference > noise:
        return "met", difference, noise
    if difference < -noise:
        return "missed", difference, noise
    return "within noise", difference, noise


@dataclasses.dataclass
class FineTune:
    """One fine-tuning run and the figures the report takes from it."""
    run: runfiles.Run
    method: str
    rate: float
    seed: int

    def summary(self, key: str) -> float:
        value = (self.run.summary or {}).get(key)
        return math.nan if value is None else float(value)

    @property
    def test_loss(self) -> float:
        return self.summary("test_loss")

    @property
    def validation_loss(self) -> float:
        return self.summary("final_eval_loss")

    def client_bytes(self) -> np.ndarray:
        """Cumulative bytes (down + up) per participating client after each round: the total
        charged to clients divided by the clients that took part by then."""
        down = np.atleast_2d(self.run.col("client_bytes_down")).astype(np.float64)
        up = np.atleast_2d(self.run.col("client_bytes_up")).astype(np.float64)
        return np.cumsum(np.where(down >= 0, down, 0).sum(axis=1) + np.where(up >= 0, up, 0).sum(axis=1))

    def uploads(self) -> list[tuple[int, int]]:
        """(block, largest per-client upload) of every round."""
        table = np.atleast_2d(self.run.col("client_bytes_up"))
        blocks = self.run.col("block")
        return [(int(b), int(row[row >= 0].max())) for b, row in zip(blocks, table) if (row >= 0).any()]

    @functools.cached_property
    def test_tasks(self) -> dict[str, dict[str, float]]:
        """Per task of /test: its loss, F1, exact match and counted tokens (read once)."""
        with runfiles.open_h5(self.run.folder / "history.h5") as f:
            if "test" not in f:
                return {}
            group = f["test"]
            tasks = str(group.attrs["tasks"]).split("\n")
            return {task: {name: float(group[name][i]) for name in ("task_loss", "task_f1", "task_exact_match", "task_tokens")}
                    for i, task in enumerate(tasks)}


def run_name(method: str, rate: float, seed: int) -> str:
    return f"{method}-lr{rate:g}-seed{seed}"


@dataclasses.dataclass
class Reproduction:
    """Every run of one reproduction folder."""
    folder: pathlib.Path
    record: dict
    timings: dict[str, float]
    sweep: dict[str, dict[float, FineTune]]      # method -> rate -> its seed-1 run
    runs: dict[str, list[FineTune]]              # method (and codec variant) -> its runs at the chosen rate
    memory: dict[str, dict[str, runfiles.Run]]   # shape -> variant -> run

    @property
    def methods(self) -> list[str]:
        return list(self.record["methods"]) + list(self.record["codec_variants"])

    def rate(self, method: str) -> float:
        base = self.record["codec_variants"].get(method, method)
        return float(self.record["chosen_rates"][base])

    def estimate(self, method: str, figure) -> Estimate:
        values = [float(figure(run)) for run in self.runs.get(method, [])]
        return Estimate([v for v in values if math.isfinite(v)])


def load(folder: pathlib.Path) -> Reproduction:
    record = json.loads((folder / "reproduction.json").read_text())
    timings = json.loads((folder / "timings.json").read_text()) if (folder / "timings.json").exists() else {}
    sweep: dict[str, dict[float, FineTune]] = {}
    runs: dict[str, list[FineTune]] = {}
    for method in record["methods"]:
        sweep[method] = {}
        for path in sorted(folder.glob(f"{method}-lr*-seed1")):
            rate = float(path.name[len(method) + 3:-len("-seed1")])
            sweep[method][rate] = FineTune(runfiles.load_run(path), method, rate, 1)
    for method in list(record["methods"]) + list(record["codec_variants"]):
        base = record["codec_variants"].get(method, method)
        rate = float(record["chosen_rates"][base])
        runs[method] = [FineTune(runfiles.load_run(folder / run_name(method, rate, seed)), method, rate, seed)
                        for seed in record["seeds"] if (folder / run_name(method, rate, seed)).is_dir()]
    memory: dict[str, dict[str, runfiles.Run]] = {}
    for path in sorted(folder.glob("memory-*")):
        for shape in ("gpt2-small", "smollm-135m"):
            if path.name.startswith(f"memory-{shape}-"):
                memory.setdefault(shape, {})[path.name[len(f"memory-{shape}-"):]] = runfiles.load_run(path)
    return Reproduction(folder, record, timings, sweep, runs, memory)


def encoded_block_sizes(run: runfiles.Run, codec: str) -> dict[int, int]:
    """Each block's encoded size under `codec`, computed from the checkpoint's tensor shapes
    (not from the bytes the run counted): fp32 4 bytes a value; int8 1 byte a value plus a
    4-byte scale per row of its last dimension (docs/OPTIONS.md)."""
    sizes: dict[int, int] = {}
    assert run.checkpoint is not None, f"{run.folder} has no checkpoint"
    with runfiles.open_h5(run.checkpoint.path) as f:
        for tensor in f["model"].values():
            if not isinstance(tensor, h5py.Dataset):
                continue
            block, count = int(tensor.attrs["block"]), int(np.prod(tensor.shape))
            rows = count // (tensor.shape[-1] if tensor.shape else 1)
            sizes[block] = sizes.get(block, 0) + (4 * count if codec == "fp32" else count + 4 * rows)
    return sizes


def equal_work(run: FineTune) -> tuple[int, int]:
    """(optimizer steps per round, sequence positions per round) the run's job asked for."""
    train = run.run.job["train"]
    pooled = train.get("algorithm", "fedcybgd") in ("centralized", "badam")
    steps = int(train["local_steps"]) * (1 if pooled else int(train["clients_per_round"]))
    return steps, steps * int(train["batch"]) * int(train["sequence"])


def test_set(run: FineTune) -> tuple[int, int]:
    """(test records, counted test tokens) from partition.h5 and /test."""
    with runfiles.open_h5(run.run.folder / "partition.h5") as f:
        records = int((f["held_out/split"][()] == 1).sum())
    tokens = sum(int(t["task_tokens"]) for t in run.test_tasks.values())
    return records, tokens


def validation_tokens(run: FineTune) -> int:
    with runfiles.open_h5(run.run.folder / "history.h5") as f:
        return int(np.sum(f["history/eval_task_loss"].attrs["validation_tokens"]))
