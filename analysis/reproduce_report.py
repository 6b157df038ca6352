#!/usr/bin/env python3
"""Writes docs/REPRODUCTION.md and its plots from the runs of scripts/reproduce.py.

    python3 analysis/reproduce_report.py runs/reproduce --out docs

Every number in the document is read from the run files (history.h5, checkpoints,
partition.h5) or from reproduction.json and timings.json, which the driver wrote."""
from __future__ import annotations

import argparse
import math
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import reproduction as rp  # noqa: E402
import runfiles  # noqa: E402

LABELS = {
    "fedcybgd": "FedCyBGD (ascending)", "fedcybgd-random": "FedCyBGD (random order)", "fedavg": "FedAvg",
    "fedlora": "FedLoRA", "centralized": "centralized", "badam": "BAdam",
    "fedcybgd-int8": "FedCyBGD, int8 codecs", "fedavg-int8": "FedAvg, int8 codecs",
}


SHORT = {"fedcybgd": "FedCyBGD", "fedavg": "FedAvg", "fedcybgd-int8": "FedCyBGD (int8)", "fedavg-int8": "FedAvg (int8)"}


def mb(value: float) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value / 1e6:,.1f} MB"


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def corpus_records(path: str) -> int:
    file = pathlib.Path(path)
    if not file.is_absolute():
        file = pathlib.Path(__file__).resolve().parent.parent / file
    with open(file, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def setup_section(r: rp.Reproduction) -> list[str]:
    first = r.runs["fedcybgd"][0]
    job, train = first.run.job, first.run.job["train"]
    params = int(first.run.summary["parameter_count"])
    steps, positions = rp.equal_work(first)
    records, test_tokens = rp.test_set(first)
    model = runfiles.open_h5(first.run.checkpoint.path)
    with model:
        attrs = model["model"].attrs
        # The shape is stored under the family's config names (docs/RUN-FILES.md, /model); Llama
        # checkpoints written before that carry GPT-2's.
        def shape_value(llama_name, gpt2_name):
            return int(attrs[llama_name] if llama_name in attrs else attrs[gpt2_name])
        shape = (f"{attrs.get('architecture', 'gpt2')} {shape_value('num_hidden_layers', 'n_layer')} layers × "
                 f"{shape_value('hidden_size', 'n_embd')}, {shape_value('num_attention_heads', 'n_head')} heads, "
                 f"vocabulary {int(attrs['vocab_size']):,}")
    pretrain = runfiles.load_run(r.folder / "pretrain")
    return [
        "## What was run",
        "",
        f"- **Base model:** {shape}: {params:,} parameters, pretrained centrally on plain text "
        f"(`jobs/reproduce/pretrain.toml`: {int(pretrain.summary['rounds'])} rounds, "
        f"{int(pretrain.summary['tokens_trained']):,} tokens, held-out loss "
        f"{float(pretrain.summary['initial_eval_loss']):.3f} → {float(pretrain.summary['final_eval_loss']):.3f} nats/token).",
        f"- **Fine-tuning data:** `{job['data']['corpus']}` (docs/DATA.md), {int(first.run.summary['clients'])} clients, "
        f"Dirichlet(α = {job['data']['dirichlet_alpha']}) over the `{job['data']['partition_field']}` field; "
        f"validation split {job['data']['validation_fraction']} (chooses the learning rates), "
        f"test split {job['data']['test_fraction']}: {records:,} records, {test_tokens:,} counted response tokens "
        f"(the validation evaluation counts {rp.validation_tokens(first):,}).",
        f"- **Work:** {int(first.run.summary['rounds'])} rounds; k = {train['clients_per_round']} clients a round, "
        f"E = {train['local_steps']} local steps, batch {train['batch']} × {train['sequence']} tokens. Every method takes "
        f"{steps} optimizer steps on {positions:,} sequence positions a round: the pooled methods (centralized, BAdam) "
        f"take k·E = {steps} steps a round.",
        f"- **Seeds:** {', '.join(str(s) for s in r.record['seeds'])}. The seed sets the Dirichlet partition, the splits, "
        "the batches and LoRA's initialisation; tables give the mean ± sample standard deviation over seeds.",
        "",
        "**Scale against the paper.** The paper fine-tunes Llama-family models of billions of parameters on "
        "Alpaca-GPT4 and question-answering data on GPUs. Here the model has "
        f"{params:,} parameters, the data is {corpus_records(job['data']['corpus']):,} dictionary and riddle records "
        "built from Debian packages, and the machine is the CPU below. What carries over is the shape of "
        "each claim (which method is better, by how much against the noise), not the size of any effect.",
        "",
    ]


def claims_section(r: rp.Reproduction, memory_rows: list[list[str]], upload_rows: list[list[str]]) -> list[str]:
    test = lambda m: r.estimate(m, lambda f: f.test_loss)  # noqa: E731
    f1 = lambda m: r.estimate(m, lambda f: f.summary("test_f1"))  # noqa: E731
    rows = []

    def claim(text: str, a: str, b: str, figure, lower: bool, unit: str):
        ea, eb = figure(a), figure(b)
        outcome, difference, noise = rp.verdict(ea, eb, lower)
        shown = f"**{outcome}**" if outcome != "within noise" else outcome
        rows.append([text, f"{ea.text()} vs {eb.text()} {unit}", f"{difference:+.4f}", f"{noise:.4f}", shown])

    claim("FedCyBGD's test loss is at most FedAvg's (equal work)", "fedcybgd", "fedavg", test, True, "nats/token")
    claim("FedCyBGD's test F1 is at least FedAvg's", "fedcybgd", "fedavg", f1, False, "")
    claim("FedCyBGD's test loss is below FedLoRA's (PEFT's limited subspace)", "fedcybgd", "fedlora", test, True, "nats/token")
    claim("FedCyBGD's test F1 is above FedLoRA's", "fedcybgd", "fedlora", f1, False, "")
    claim("FedCyBGD is competitive with centralized full tuning: its test loss is at most centralized's", "fedcybgd", "centralized", test, True, "nats/token")
    claim("FedCyBGD's test loss is at most BAdam's (its one-learner counterpart)", "fedcybgd", "badam", test, True, "nats/token")
    claim("FedCyBGD's int8 codecs cost nothing: its test loss with them is at most without", "fedcybgd-int8", "fedcybgd", test, True, "nats/token")
    claim("With the same int8 codecs, FedCyBGD's test loss is at most FedAvg's", "fedcybgd-int8", "fedavg-int8", test, True, "nats/token")
    claim("FedCyBGD's ascending block order is as good as a random one: its test loss is at most the random order's", "fedcybgd", "fedcybgd-random", test, True, "nats/token")
    budget_rows = equal_bytes_rows(r)
    everything = rows + budget_rows + [[row[0], "", "", "", row[2]] for row in memory_rows + upload_rows]
    outcome = lambda word: [row[0] for row in everything if row[-1].strip("*") == word]  # noqa: E731
    overview = []
    for word, heading in (("met", "Held here"), ("missed", "Did not hold here"), ("within noise", "Within noise")):
        names = outcome(word)
        overview += [f"**{heading}** ({len(names)}):"] + [f"- {name}" for name in names] + [""]
    return ["## Verdicts", ""] + overview + [
            "A claim is **met** when the difference in its favour exceeds twice the combined standard deviation "
            "sqrt(s₁² + s₂²) of the two methods' seeds, **missed** when the difference against it does, and "
            "*within noise* otherwise. Differences are signed so that positive favours the claim. For a claim of "
            "\"at most\", within noise means that no difference could be shown either way with these seeds.", ""] + \
        table(["claim", "measured (mean ± std over seeds)", "difference", "2 × combined std", "verdict"], rows + budget_rows) + \
        [""] + table(["claim (measured once: a peak RSS or a byte count does not vary with the seed)", "measured", "verdict"],
                     memory_rows + upload_rows) + [""]


def equal_bytes_rows(r: rp.Reproduction) -> list[list[str]]:
    """FedCyBGD's final validation loss against FedAvg's newest evaluation within FedCyBGD's bytes."""
    rows = []
    for ours, theirs in (("fedcybgd", "fedavg"), ("fedcybgd-int8", "fedavg-int8")):
        mine, other = [], []
        for a, b in zip(r.runs[ours], r.runs[theirs]):
            budget = a.client_bytes()[-1]
            spent = b.client_bytes()
            points, losses = runfiles.eval_points(b.run)
            within = [loss for row, loss in zip(points, losses) if spent[row] <= budget]
            initial = b.run.initial_eval_loss()
            other.append(within[-1] if within else initial)
            mine.append(a.validation_loss)
        ea, eb = rp.Estimate(mine), rp.Estimate(other)
        outcome, difference, noise = rp.verdict(ea, eb, True)
        rows.append([f"At equal bytes, {SHORT[ours]}'s validation loss is at most {SHORT[theirs]}'s "
                     f"(at its last evaluation within {SHORT[ours]}'s total bytes)",
                     f"{ea.text()} vs {eb.text()} nats/token", f"{difference:+.4f}", f"{noise:.4f}",
                     f"**{outcome}**" if outcome != "within noise" else outcome])
    return rows


def results_section(r: rp.Reproduction) -> list[str]:
    rows = []
    for method in r.methods:
        runs = r.runs[method]
        if not runs:
            continue
        steps, positions = rp.equal_work(runs[0])
        rows.append([LABELS[method], f"{r.rate(method):g}", str(len(runs)),
                     r.estimate(method, lambda f: f.test_loss).text(),
                     r.estimate(method, lambda f: f.summary("test_f1")).text(3),
                     r.estimate(method, lambda f: f.summary("test_exact_match")).text(3),
                     r.estimate(method, lambda f: f.validation_loss).text(),
                     f"{steps} × {positions // steps:,}",
                     mb(r.estimate(method, lambda f: f.summary("bytes_per_client_mean")).mean),
                     mb(r.estimate(method, lambda f: f.summary("peak_client_rss")).mean),
                     f"{r.estimate(method, lambda f: f.summary('wall_seconds')).mean:.0f} s"])
    best_match = max((r.estimate(m, lambda f: f.summary("test_exact_match")).mean for m in r.methods if r.runs.get(m)), default=math.nan)
    caveat = []
    if best_match == 0:
        caveat = ["No method's greedy answers matched a reference exactly (test exact match 0 for every method and seed), "
                  "and F1 stays near 0: a model of this size does not yet answer these tasks, so here the generation "
                  "metrics cannot separate the methods and the verdicts rest on the test loss.", ""]
    return ["## Results on the test split", "",
            "Test loss: nats per counted response token over every test record; F1 and exact match: SQuAD's, on the "
            "greedy answers to the test prompts (docs/DATA.md). Validation loss: the last evaluation, on the split the "
            "learning rate was chosen on.", ""] + \
        table(["method", "lr", "seeds", "test loss", "test F1", "test exact match", "validation loss",
               "steps × positions a round", "bytes per client (mean)", "peak client RSS", "training time"], rows) + [""] + caveat


def sweep_section(r: rp.Reproduction) -> list[str]:
    rates = sorted({rate for runs in r.sweep.values() for rate in runs})
    rows = []
    for method, runs in r.sweep.items():
        chosen = r.rate(method)
        inside = min(runs) < chosen < max(runs)
        cells = []
        for rate in rates:
            if rate not in runs:
                cells.append("")
                continue
            text = f"{runs[rate].validation_loss:.4f}"
            cells.append(f"**{text}**" if rate == chosen else text)
        rows.append([LABELS[method]] + cells + ["yes" if inside else "**no: at an edge**"])
    return ["## Learning rates", "",
            "Seed 1 of every method at every rate of one grid (factor 2 apart), scored by the final validation loss. "
            "The grid starts the same for every method and is extended by one rate beyond an edge where a method's best "
            "lies at that edge (`scripts/reproduce.py`). The chosen rate is in bold; the int8 variants use their fp32 "
            "counterparts' rates.", ""] + table(["method"] + [f"{x:g}" for x in rates] + ["optimum inside the grid"], rows) + [""]


def memory_section(r: rp.Reproduction) -> tuple[list[str], list[list[str]]]:
    lines, verdicts, rows = [], [], []
    names = {"gpt2-small": "GPT-2 small (12 × 768, vocabulary 50,257)", "smollm-135m": "SmolLM-135M (30 × 576, vocabulary 49,152, tied)"}
    for shape, runs in r.memory.items():
        fedavg = runs.get("fedavg")
        base = runfiles.peak_rss(fedavg)[0] if fedavg else None
        for variant, run in runs.items():
            client, server = runfiles.peak_rss(run)
            rows.append([names.get(shape, shape), variant, f"{int(run.summary['parameter_count']):,}", mb(client), mb(server),
                         f"{client / base:.0%}" if base else "n/a"])
            if variant.startswith("fedcybgd") and base:
                ratio = client / base
                label = "with train.embedding_shards = 4" if variant.endswith("shards") else "every block whole"
                verdicts.append([f"FedCyBGD's client peak RSS is at most 50% of FedAvg's: {names.get(shape, shape)}, {label}",
                                 f"{ratio:.1%}", "**met**" if ratio <= 0.5 else "**missed**"])
    if rows:
        lines = ["## Memory at real vocabularies", "",
                 "Peak resident set size of the client ranks (`rank_peak_rss`, VmHWM), random weights, batch 4 × 128, "
                 "`mpirun -n 3`: FedCyBGD runs one cycle of one-step rounds (every block, the embeddings too), FedAvg and "
                 "FedLoRA three one-step rounds (each trains the whole model). Jobs: `jobs/reproduce/memory-*.toml`.", ""] + \
            table(["shape", "run", "parameters", "peak client RSS", "peak server RSS", "of FedAvg's client RSS"], rows) + \
            ["", "![memory](reproduction/memory.png)", ""]
    return lines, verdicts


def upload_rows(r: rp.Reproduction) -> list[list[str]]:
    rows = []
    for method, codec in (("fedcybgd", "fp32"), ("fedcybgd-int8", "int8")):
        if not r.runs.get(method):
            continue
        run = r.runs[method][0]
        sizes = rp.encoded_block_sizes(run.run, codec)
        worst = max(up - (sizes[block] + rp.UPLOAD_HEADER_BYTES) for block, up in run.uploads())
        outcome = "**met**" if worst <= 0 else "**missed**"
        rows.append([f"{SHORT[method]} uploads one block a round: each client's upload equals its block's {codec} size "
                     f"plus the {rp.UPLOAD_HEADER_BYTES}-byte header", f"largest excess {worst} bytes", outcome])
    fedavg, ours = r.estimate("fedavg", lambda f: f.summary("bytes_per_client_mean")), \
        r.estimate("fedcybgd", lambda f: f.summary("bytes_per_client_mean"))
    if fedavg.values and ours.values:
        ratio = ours.mean / fedavg.mean
        rows.append(["FedCyBGD's bytes per client are below FedAvg's (fp32, equal rounds)", f"{ratio:.1%} of FedAvg's",
                     "**met**" if ratio < 1 else "**missed**"])
    return rows


def task_section(r: rp.Reproduction) -> list[str]:
    tasks = sorted({t for run in r.runs["fedcybgd"] for t in run.test_tasks})
    rows = []
    for method in r.methods:
        if not r.runs.get(method):
            continue
        cells = []
        for task in tasks:
            losses = [run.test_tasks[task]["task_loss"] for run in r.runs[method]]
            f1 = [v for v in (run.test_tasks[task]["task_f1"] for run in r.runs[method]) if math.isfinite(v)]
            cells.append(f"{np.mean(losses):.2f} / " + (f"{np.mean(f1):.2f}" if f1 else "n/a"))
        rows.append([LABELS[method]] + cells)
    return ["## Per task", "", "Test loss (nats/token) / test F1 per task, means over seeds; n/a: no test prompt of that "
            "task was answered.", ""] + table(["method"] + tasks, rows) + \
        ["", "![per-task test loss](reproduction/task_loss.png)", ""]


def time_section(r: rp.Reproduction) -> list[str]:
    stages = {"pretraining": 0.0, "learning-rate sweep (seed 1)": 0.0, "seeds 2 and 3, int8 pair": 0.0, "memory runs": 0.0}
    for name, seconds in r.timings.items():
        if name == "pretrain":
            stages["pretraining"] += seconds
        elif name.startswith("memory-"):
            stages["memory runs"] += seconds
        elif name.endswith("-seed1") and not any(name.startswith(v) for v in r.record["codec_variants"]):
            stages["learning-rate sweep (seed 1)"] += seconds
        else:
            stages["seeds 2 and 3, int8 pair"] += seconds
    total = sum(stages.values())
    coretype = r.record.get("openblas_coretype") or "unset (fedcybgd chooses the kernels)"
    return ["## How long it took", "",
            f"`make reproduce` ran {len(r.timings)} training jobs in {total / 60:.0f} minutes on this machine "
            f"(OPENBLAS_CORETYPE {coretype}), {r.record['ranks']} MPI ranks each:", "", "```", r.record["machine"], "```", ""] + \
        table(["stage", "minutes"], [[k, f"{v / 60:.1f}"] for k, v in stages.items()]) + [""]


def plots(r: rp.Reproduction, folder: pathlib.Path) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    folder.mkdir(parents=True, exist_ok=True)
    loss_plot(r, folder, plt)
    if r.memory:
        memory_plot(r, folder, plt)
    task_plot(r, folder, plt)
    return ["## Curves", "", "Validation loss against rounds (round 0: the base model) and against bytes per client, for the "
            "federated methods (mean over seeds, band ± 1 std; each seed has its own validation split):",
            "", "![loss](reproduction/loss.png)", ""]


def loss_plot(r: rp.Reproduction, folder: pathlib.Path, plt) -> None:
    figure, (by_round, by_bytes) = plt.subplots(1, 2, figsize=(12, 4.5))
    clients = 1
    for method in r.methods:
        runs = r.runs.get(method)
        if not runs:
            continue
        points = [runfiles.eval_points(f.run) for f in runs]
        rows = points[0][0]
        losses = np.array([p[1] for p in points if len(p[1]) == len(rows)])
        initial = np.array([f.run.initial_eval_loss() for f in runs])
        losses = np.column_stack([initial, losses])
        mean, std = losses.mean(axis=0), losses.std(axis=0, ddof=1) if len(losses) > 1 else 0 * losses[0]
        rounds = np.concatenate([[0], runs[0].run.col("round")[rows]])
        style = dict(marker="o", markersize=3, label=LABELS[method], linestyle="--" if "int8" in method else "-")
        line, = by_round.plot(rounds, mean, **style)
        by_round.fill_between(rounds, mean - std, mean + std, alpha=0.12, color=line.get_color())
        if method in ("centralized", "badam"):
            continue  # one learner holding all the data: it has no clients' bytes to plot
        clients = max(int(runs[0].run.summary["clients"]), 1)
        spent = np.mean([f.client_bytes()[rows] for f in runs], axis=0) / clients
        by_bytes.plot(spent / 1e6, mean[1:], color=line.get_color(), **style)
        by_bytes.fill_between(spent / 1e6, (mean - std)[1:], (mean + std)[1:], alpha=0.12, color=line.get_color())
    by_round.set_xlabel("round")
    by_bytes.set_xlabel(f"bytes per client (MB, down + up, cumulative: the total over the clients ÷ {clients})")
    by_bytes.set_xscale("log")
    for axis in (by_round, by_bytes):
        axis.set_ylabel("validation loss (nats/token)")
        axis.grid(alpha=0.3)
    by_round.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(folder / "loss.png", dpi=110)
    plt.close(figure)


def memory_plot(r: rp.Reproduction, folder: pathlib.Path, plt) -> None:
    figure, axis = plt.subplots(figsize=(9, 4))
    labels, values = [], []
    for shape, runs in r.memory.items():
        for variant, run in runs.items():
            labels.append(f"{shape}\n{variant}")
            values.append(runfiles.peak_rss(run)[0] / 1e6)
    axis.bar(range(len(values)), values)
    axis.set_xticks(range(len(values)), labels, fontsize=7)
    axis.set_ylabel("peak client RSS (MB)")
    figure.tight_layout()
    figure.savefig(folder / "memory.png", dpi=110)
    plt.close(figure)


def task_plot(r: rp.Reproduction, folder: pathlib.Path, plt) -> None:
    tasks = sorted({t for run in r.runs["fedcybgd"] for t in run.test_tasks})
    figure, axis = plt.subplots(figsize=(12, 4))
    methods = [m for m in r.methods if r.runs.get(m)]
    width = 0.8 / len(methods)
    for i, method in enumerate(methods):
        means = [np.mean([run.test_tasks[t]["task_loss"] for run in r.runs[method]]) for t in tasks]
        axis.bar(np.arange(len(tasks)) + i * width, means, width, label=LABELS[method])
    axis.set_xticks(np.arange(len(tasks)) + 0.4, tasks, rotation=30, fontsize=8)
    axis.set_ylabel("test loss (nats/token)")
    axis.legend(fontsize=7, ncol=4)
    figure.tight_layout()
    figure.savefig(folder / "task_loss.png", dpi=110)
    plt.close(figure)


def report(folder: pathlib.Path, out: pathlib.Path) -> str:
    r = rp.load(folder)
    memory_lines, memory_verdicts = memory_section(r)
    lines = ["# Reproducing the FedCyBGD paper's claims", "",
             "Generated by `make reproduce` (`scripts/reproduce.py`, then `python3 analysis/reproduce_report.py "
             "runs/reproduce --out docs`), finished " + r.record["finished"] + ". Do not edit by hand: every number "
             "below is read from the runs' files.", ""]
    lines += setup_section(r)
    lines += claims_section(r, memory_verdicts, upload_rows(r))
    lines += results_section(r) + sweep_section(r) + memory_lines + task_section(r) + plots(r, out / "reproduction")
    lines += time_section(r)
    text = "\n".join(lines)
    (out / "REPRODUCTION.md").write_text(text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("docs"))
    args = parser.parse_args(argv)
    report(args.runs, args.out)
    print(f"wrote {args.out / 'REPRODUCTION.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
