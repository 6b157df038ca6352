#!/usr/bin/env python3
"""Runs every job of the reproduction of the FedCyBGD paper's claims (`make reproduce`), then
analysis/reproduce_report.py writes docs/REPRODUCTION.md from the run files.

Stages, each skipped when its run files are already complete (so a stopped reproduction
continues where it stopped; delete the runs folder to start again):
  1. a 2,048-token byte-level BPE trained on the pretraining text (scripts/train_bpe.py);
  2. the base model, trained centrally on plain text (jobs/reproduce/pretrain.toml);
  3. the learning-rate sweep: every method of METHODS fine-tunes the base with seed 1 at every
     rate of the same grid; where a method's best validation loss lies at an edge of the grid,
     the grid is extended by one rate of the same ladder (factor 2) beyond that edge, until the
     best rate is inside it;
  4. seeds 2 and 3 of every method at its chosen rate, and the int8 codec pair
     (fedcybgd and fedavg with the same int8 codecs, at their fp32 counterparts' rates);
  5. memory at real vocabularies: one cycle of one-step rounds of fedcybgd (with and without
     embedding shards), fedavg and fedlora at GPT-2-small and SmolLM-135M shapes.

    python3 scripts/reproduce.py                    # everything, into runs/reproduce
    python3 scripts/reproduce.py --scale smoke --runs /tmp/r   # a minutes-long run of the same pipeline
"""
import argparse
import json
import math
import os
import pathlib
import platform
import subprocess
import sys
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "analysis"))
import runfiles  # noqa: E402

SEEDS = (1, 2, 3)
START_GRID = (5e-4, 1e-3, 2e-3, 4e-3)
LADDER = 2.0
MAX_EXTENSIONS = 3

# The methods of the comparison: the changes each makes to jobs/reproduce/finetune.toml.
# "pooled" methods (one learner holding all the data) take k·E steps a round, the work of the
# k clients of a federated round, so that every method takes the same steps on as many tokens.
METHODS = {
    "fedcybgd": {"train.algorithm": "fedcybgd", "train.block_order": "ascending"},
    "fedcybgd-random": {"train.algorithm": "fedcybgd", "train.block_order": "random"},
    "fedavg": {"train.algorithm": "fedavg"},
    "fedlora": {"train.algorithm": "fedlora"},
    "centralized": {"train.algorithm": "centralized", "pooled": True},
    "badam": {"train.algorithm": "badam", "pooled": True},
}
# The same lossy codecs on both full-parameter federated methods, at their fp32 rates.
CODEC_VARIANTS = {
    "fedcybgd-int8": ("fedcybgd", {"download.codec": "int8", "upload.codec": "int8"}),
    "fedavg-int8": ("fedavg", {"download.codec": "int8", "upload.codec": "int8"}),
}
MEMORY_SHAPES = ("gpt2-small", "smollm-135m")
MEMORY_VARIANTS = {
    "fedcybgd": {"train.algorithm": "fedcybgd"},
    "fedcybgd-shards": {"train.algorithm": "fedcybgd", "train.embedding_shards": 4},
    "fedavg": {"train.algorithm": "fedavg", "train.cycles": None, "train.rounds": 3},
    "fedlora": {"train.algorithm": "fedlora", "train.cycles": None, "train.rounds": 3},
}
# --scale smoke: the same pipeline, minutes long, for the test of the pipeline itself.
SMOKE = {
    "pretrain": {"train.rounds": 6, "train.local_steps": 2, "train.checkpoint_every": 3, "train.warmup_rounds": 1},
    "finetune": {"train.rounds": 8, "train.local_steps": 1, "train.batch": 2, "train.eval_batches": 2,
                 "train.eval_prompts": 4, "train.test_prompts": 8, "data.test_fraction": 0.02},
    "grid": (1e-3, 4e-3), "seeds": (1, 2), "memory": False, "extensions": 1,
}


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} to a job file")


def write_toml(job: dict) -> str:
    """The job as TOML text: top-level keys, then one table per section (the jobs are flat)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in job.items() if not isinstance(v, dict)]
    for section, table in job.items():
        if isinstance(table, dict):
            lines += ["", f"[{section}]"] + [f"{k} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def changed(job: dict, changes: dict) -> dict:
    """A copy of the job with dotted keys set (None removes a key)."""
    job = json.loads(json.dumps(job))
    for dotted, value in changes.items():
        if dotted == "pooled":
            continue
        *path, key = dotted.split(".")
        table = job
        for part in path:
            table = table.setdefault(part, {})
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value
    return job


class Reproduction:
    """The runs of one reproduction, in one folder, with the binary and rank count they use."""

    def __init__(self, runs: pathlib.Path, ranks: int, scale: str):
        self.runs, self.ranks, self.scale = runs, ranks, scale
        self.bin = os.environ.get("FEDCYBGD_BIN", str(ROOT / ".build/release/fedcybgd"))
        self.smoke = scale == "smoke"
        (runs / "jobs").mkdir(parents=True, exist_ok=True)
        (runs / "logs").mkdir(exist_ok=True)
        # Seconds each run's training took, kept across passes: a stopped reproduction that is
        # run again still reports the time its runs took.
        self.timings_file = runs / "timings.json"
        self.timings = json.loads(self.timings_file.read_text()) if self.timings_file.exists() else {}

    def load(self, name: str) -> dict:
        with open(ROOT / "jobs/reproduce" / name, "rb") as f:
            return tomllib.load(f)

    def finished(self, name: str, key: str) -> bool:
        history = self.runs / name / "history.h5"
        if not history.exists():
            return False
        try:
            with runfiles.open_h5(history) as f:
                return "summary" in f and key in f["summary"].attrs
        except OSError:
            return False

    def train(self, name: str, job: dict, ranks: int, done_key: str, resume: bool = False) -> None:
        if self.finished(name, done_key):
            print(f"reproduce: {name} is done already")
            return
        job = changed(job, {"name": name, "output": str(self.runs)})
        path = self.runs / "jobs" / f"{name}.toml"
        path.write_text(write_toml(job))
        log = self.runs / "logs" / f"{name}.log"
        print(f"reproduce: {name}", flush=True)
        command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks), self.bin, "train", str(path),
                   "--resume" if resume else "--replace"]
        start = time.monotonic()
        with open(log, "w") as out:
            status = subprocess.run(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT).returncode
        self.timings[name] = self.timings.get(name, 0.0) + time.monotonic() - start
        self.timings_file.write_text(json.dumps(self.timings, indent=1) + "\n")
        if status != 0 or not self.finished(name, done_key):
            tail = log.read_text().strip().splitlines()[-5:]
            sys.exit(f"reproduce: {name} failed (exit {status}); its log {log} ends:\n" + "\n".join(tail))

    # Stage 1 and 2 ----------------------------------------------------------------------------

    def tokenizer(self) -> None:
        out = self.runs / "bpe"
        if (out / "merges.txt").exists():
            return
        pretrain = self.load("pretrain.toml")
        subprocess.run([sys.executable, str(ROOT / "scripts/train_bpe.py"), pretrain["data"]["corpus"], str(out),
                        "--vocab-size", "2048"], check=True, stdout=subprocess.DEVNULL)

    def bpe_keys(self) -> dict:
        return {"data.vocab": str(self.runs / "bpe/vocab.json"), "data.merges": str(self.runs / "bpe/merges.txt")}

    def pretrain(self) -> None:
        job = changed(self.load("pretrain.toml"), self.bpe_keys() | (SMOKE["pretrain"] if self.smoke else {}))
        # One learner: a server rank and one client rank are all it uses.
        self.train("pretrain", job, 2, "final_eval_loss", resume=True)

    # Stages 3 and 4 ---------------------------------------------------------------------------

    def finetune_job(self, method_changes: dict, rate: float, seed: int) -> dict:
        base = self.load("finetune.toml")
        train = base["train"]
        changes = dict(self.bpe_keys()) | {"model.init": str(self.runs / "pretrain"), "seed": seed,
                                           "train.learning_rate": rate}
        if self.smoke:
            changes |= SMOKE["finetune"]
        changes |= method_changes
        if method_changes.get("pooled"):
            k = train["clients_per_round"]
            changes["train.local_steps"] = k * changes.get("train.local_steps", train["local_steps"])
        return changed(base, changes)

    def finetune(self, method: str, changes: dict, rate: float, seed: int) -> str:
        name = f"{method}-lr{rate:g}-seed{seed}"
        self.train(name, self.finetune_job(changes, rate, seed), self.ranks, "test_loss")
        return name

    def validation_loss(self, name: str) -> float:
        with runfiles.open_h5(self.runs / name / "history.h5") as f:
            return float(f["summary"].attrs["final_eval_loss"])

    def sweep(self, method: str) -> float:
        """Runs the grid for one method; returns the rate of the lowest validation loss, inside the grid."""
        grid = list(SMOKE["grid"] if self.smoke else START_GRID)
        extensions = SMOKE["extensions"] if self.smoke else MAX_EXTENSIONS
        losses = {}
        while True:
            for rate in grid:
                if rate not in losses:
                    losses[rate] = self.validation_loss(self.finetune(method, METHODS[method], rate, 1))
            best = min(grid, key=lambda r: (losses[r], r))
            if best not in (grid[0], grid[-1]) or extensions == 0:
                return best
            extensions -= 1
            grid = [grid[0] / LADDER] + grid if best == grid[0] else grid + [grid[-1] * LADDER]

    def comparison(self) -> dict:
        chosen = {}
        for method in METHODS:
            chosen[method] = self.sweep(method)
        seeds = SMOKE["seeds"] if self.smoke else SEEDS
        for method, rate in chosen.items():
            for seed in seeds[1:]:
                self.finetune(method, METHODS[method], rate, seed)
        for variant, (method, codec) in CODEC_VARIANTS.items():
            for seed in seeds:
                self.finetune(variant, METHODS[method] | codec, chosen[method], seed)
        return chosen

    # Stage 5 ----------------------------------------------------------------------------------

    def memory(self) -> None:
        for shape in MEMORY_SHAPES:
            job = self.load(f"memory-{shape}.toml")
            for variant, changes in MEMORY_VARIANTS.items():
                self.train(f"memory-{shape}-{variant}", changed(job, changes), 3, "peak_client_rss")

    def machine(self) -> str:
        probe = subprocess.run([self.bin, "bench", "--sgemm-only", "--layers", "1", "--width", "32", "--heads", "2",
                                "--vocab", "64", "--sequence", "16", "--batch", "2"],
                               capture_output=True, text=True)
        lines = [line for line in probe.stdout.splitlines() if line.startswith(("cpu:", "blas:"))]
        return "\n".join(lines) or platform.processor()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=pathlib.Path, default=ROOT / "runs/reproduce")
    parser.add_argument("--ranks", type=int, default=int(os.environ.get("RANKS", 3)))
    parser.add_argument("--scale", choices=("full", "smoke"), default="full")
    args = parser.parse_args()
    reproduction = Reproduction(args.runs.resolve(), args.ranks, args.scale)
    reproduction.tokenizer()
    reproduction.pretrain()
    chosen = reproduction.comparison()
    if not reproduction.smoke:
        reproduction.memory()
    record = {
        "scale": args.scale, "ranks": args.ranks, "seeds": list(SMOKE["seeds"] if reproduction.smoke else SEEDS),
        "methods": list(METHODS), "codec_variants": {k: v[0] for k, v in CODEC_VARIANTS.items()},
        "chosen_rates": chosen, "machine": reproduction.machine(),
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE", ""),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = args.runs / "reproduction.json"
    out.write_text(json.dumps(record, indent=2) + "\n")
    total = sum(reproduction.timings.values())
    print(f"reproduce: every run is in {args.runs} ({total:.0f} s of training runs); wrote {out}")


if __name__ == "__main__":
    main()
