"""Instruction-following evaluation (docs/DATA.md, "Evaluation"), checked from the run files
with code written here: SQuAD's normalisation, exact match and F1 (re-implemented after the
official SQuAD evaluation script) against the stored answers and references; the per-task
losses against the overall loss; the greedy answers against Hugging Face transformers'
greedy generation from the exported model; mpirun -n 3 against one rank; and `inspect`."""
import collections
import os
import re
import string
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from conftest import BINARY, ROOT

sys.path.insert(0, os.path.dirname(__file__))
import test_instruct as ti  # noqa: E402

EVAL_KEYS = "eval_prompts = 9\neval_max_new_tokens = 16\ntest_prompts = 6\n"
END_MARKER = "<|im_end|>"
EOS = 3  # the byte tokenizer's end of sequence (docs/DATA.md)


def squad_normalize(text):
    """SQuAD v1.1's normalize_answer: lower, drop punctuation, drop articles, fix whitespace."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def squad_f1(prediction, truth):
    predicted, expected = squad_normalize(prediction).split(), squad_normalize(truth).split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = collections.Counter(predicted) & collections.Counter(expected)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def train(tmp, ranks=None, checkpoint_every=120, kill_after_checkpoint=None):
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"no fedcybgd binary at {BINARY}; run 'make test', which builds it")
    tmp.mkdir(parents=True, exist_ok=True)
    data, _ = ti.write_data(tmp)
    job = tmp / "job.toml"
    # Long enough (about 3 s) for answers that partly match ("Hund 1!" against "Hund 07!").
    text = ti.JOB.format(output=tmp / "runs", corpus=data, bad="skip", pack="true", tokenizer="")
    for old, new in [("rounds = 6", "rounds = 120"), ("learning_rate = 3e-3", "learning_rate = 1e-2"),
                     ("local_steps = 2", "local_steps = 4"), ("checkpoint_every = 6", f"checkpoint_every = {checkpoint_every}")]:
        assert old in text
        text = text.replace(old, new)
    job.write_text(text + EVAL_KEYS)
    command = [BINARY, "train", str(job)]
    if ranks:
        command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks)] + command
    folder = tmp / "runs" / "instruct"
    if kill_after_checkpoint:
        # SIGKILL once that checkpoint is in place (rows and answers after it may be half written).
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not (folder / f"checkpoint-{kill_after_checkpoint:06d}.h5").exists() and process.poll() is None:
            time.sleep(0.005)
        process.kill()
        process.wait()
        command = command + ["--resume"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("eval1"))


def answers(group):
    """The rows of an answers table, each with its text."""
    ends = group["text_end"][()]
    text = bytes(group["text_utf8"][()])
    starts = np.concatenate([[0], ends[:-1]]).astype(int)
    rows = []
    for i in range(len(ends)):
        rows.append({name: group[name][i] for name in ("round", "held_out", "task", "line", "exact_match", "f1", "generated_tokens")}
                    | {"text": text[starts[i]:ends[i]].decode()})
    return rows


def held_out(run):
    with h5py.File(run / "partition.h5", "r") as f:
        g = f["held_out"]
        refs, offsets = bytes(g["reference_utf8"][()]), g["reference_offsets"][()]
        references = [refs[offsets[i]:offsets[i + 1]].decode() for i in range(len(offsets) - 1)]
        tokens, token_offsets = g["tokens"][()], g["token_offsets"][()]
        prompts = [tokens[token_offsets[i]:token_offsets[i] + g["prompt_length"][i]].tolist() for i in range(len(references))]
        return references, prompts, g["split"][()], g["label"][()], g["line"][()]


def test_stored_exact_match_and_f1_are_squads(run):
    references, _, split, label, line = held_out(run)
    with h5py.File(run / "history.h5", "r") as f:
        h = f["history"]
        tasks = h.attrs["tasks"].split("\n")
        assert tasks == ["chat", "define", "translate"]
        generated = answers(f["generations"])
        test = answers(f["test/answers"])
        summary = dict(f["summary"].attrs)
        em, f1 = h["eval_exact_match"][()], h["eval_f1"][()]
        task_em, task_f1 = h["eval_task_exact_match"][()], h["eval_task_f1"][()]
        rounds = h["round"][()]
        test_task_f1 = f["test/task_f1"][()]
    assert generated and test
    for row in generated + test:
        reference = references[row["held_out"]]
        assert row["exact_match"] == float(squad_normalize(row["text"]) == squad_normalize(reference)), row
        assert row["f1"] == pytest.approx(squad_f1(row["text"], reference), abs=1e-6), row
        assert row["line"] == line[row["held_out"]] and row["task"] == label[row["held_out"]]
        assert END_MARKER not in row["text"]
        assert row["generated_tokens"] <= 16
    assert {split[r["held_out"]] for r in generated} == {0} and {split[r["held_out"]] for r in test} == {1}
    # Chosen spread over tasks: up to 9 prompts, but each task has two validation records here.
    first = [r for r in generated if r["round"] == generated[0]["round"]]
    assert collections.Counter(r["task"] for r in first) == collections.Counter({0: 2, 1: 2, 2: 2})
    assert 0 < np.mean([r["f1"] for r in generated if r["round"] == rounds[-1]]) < 1, "the scores must not be trivial"
    evaluated = [i for i in range(len(rounds)) if not np.isnan(em[i])]
    assert evaluated, "no round generated answers"
    for i in evaluated:
        mine = [r for r in generated if r["round"] == rounds[i]]
        assert em[i] == pytest.approx(np.mean([r["exact_match"] for r in mine]), abs=1e-6)
        assert f1[i] == pytest.approx(np.mean([r["f1"] for r in mine]), abs=1e-6)
        for t in range(len(tasks)):
            per = [r["f1"] for r in mine if r["task"] == t]
            assert task_f1[i][t] == pytest.approx(np.mean(per), abs=1e-6)
            assert task_em[i][t] == pytest.approx(np.mean([r["exact_match"] for r in mine if r["task"] == t]), abs=1e-6)
    assert {r["round"] for r in generated} == {rounds[i] for i in evaluated}
    assert summary["final_f1"] == f1[evaluated[-1]] and summary["final_exact_match"] == em[evaluated[-1]]
    assert summary["test_f1"] == pytest.approx(np.mean([r["f1"] for r in test]), abs=1e-6)
    for t in range(len(tasks)):
        assert test_task_f1[t] == pytest.approx(np.mean([r["f1"] for r in test if r["task"] == t]), abs=1e-6)


def test_task_losses_weighted_by_tokens_average_to_the_eval_loss(run):
    with h5py.File(run / "history.h5", "r") as f:
        h = f["history"]
        loss, per_task = h["eval_loss"][()], h["eval_task_loss"][()]
        weights = h["eval_task_loss"].attrs["validation_tokens"]
        test_loss, test_tasks, test_tokens = f["summary"].attrs["test_loss"], f["test/task_loss"][()], f["test/task_tokens"][()]
        assert h["eval_task_loss"].attrs["units"] == "nats/byte" and h["eval_f1"].attrs["units"] == "1"
    with h5py.File(run / "partition.h5", "r") as f:
        g = f["held_out"]
        counted, offsets, split, label = g["counted"][()], g["token_offsets"][()], g["split"][()], g["label"][()]
    # Every validation record fits the two evaluation batches here, so the weights are the
    # counted tokens of each task's validation records, counted here from partition.h5.
    expected = np.zeros(3, dtype=int)
    tests = np.zeros(3, dtype=int)
    for i in range(len(split)):
        n = int(counted[offsets[i]:offsets[i + 1]].sum())
        (expected if split[i] == 0 else tests)[label[i]] += n
    assert weights.tolist() == expected.tolist()
    assert test_tokens.tolist() == tests.tolist()
    rows = [i for i in range(len(loss)) if not np.isnan(loss[i])]
    assert rows
    for i in rows:
        assert np.average(per_task[i], weights=weights) == pytest.approx(loss[i], rel=1e-5)
        assert len(set(per_task[i].tolist())) == 3, "tasks must differ"
    for i in set(range(len(loss))) - set(rows):
        assert np.isnan(per_task[i]).all()
    assert np.average(test_tasks, weights=test_tokens) == pytest.approx(test_loss, rel=1e-5)


def test_final_answers_equal_transformers_greedy_generation(run, tmp_path):
    """The last evaluation is of the final model: exported, loaded by transformers and asked
    the same prompts greedily, it must give the same answers."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    out = tmp_path / "hf"
    done = subprocess.run([BINARY, "export", str(run), "--out", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    model = transformers.GPT2LMHeadModel.from_pretrained(out).eval()
    _, prompts, _, _, _ = held_out(run)
    with h5py.File(run / "history.h5", "r") as f:
        generated = answers(f["generations"])
    last = [r for r in generated if r["round"] == max(r["round"] for r in generated)]
    for row in last:
        prompt = prompts[row["held_out"]]
        with torch.no_grad():
            ids = model.generate(torch.tensor([prompt]), max_new_tokens=16, do_sample=False, eos_token_id=EOS,
                                 pad_token_id=EOS)[0, len(prompt):].tolist()
        if EOS in ids:
            ids = ids[:ids.index(EOS)]
        text = bytes(ids).decode("utf-8", errors="replace")
        text = text.split(END_MARKER)[0]
        assert row["text"] == text, (row, text)


def test_three_ranks_store_the_same_metrics_bit_for_bit(run, tmp_path):
    three = train(tmp_path / "p3", ranks=3)
    with h5py.File(run / "history.h5", "r") as a, h5py.File(three / "history.h5", "r") as b:
        for column in ("eval_loss", "eval_exact_match", "eval_f1", "eval_task_loss", "eval_task_exact_match", "eval_task_f1"):
            assert a["history"][column][()].tobytes() == b["history"][column][()].tobytes(), column
        for table in ("generations", "test/answers"):
            for name in a[table]:
                assert a[table][name][()].tobytes() == b[table][name][()].tobytes(), f"{table}/{name}"
        for name in ("test_loss", "test_exact_match", "test_f1", "final_f1"):
            assert a["summary"].attrs[name].tobytes() == b["summary"].attrs[name].tobytes(), name


def test_killed_and_resumed_run_stores_the_same_metrics_and_answers(run, tmp_path):
    resumed = train(tmp_path / "resumed", checkpoint_every=8, kill_after_checkpoint=16)
    with h5py.File(run / "history.h5", "r") as a, h5py.File(resumed / "history.h5", "r") as b:
        assert "resumed from" in b.attrs.get("resume_log", ""), "the run was not interrupted"
        for column in ("eval_loss", "eval_exact_match", "eval_f1", "eval_task_loss", "eval_task_exact_match", "eval_task_f1"):
            assert a["history"][column][()].tobytes() == b["history"][column][()].tobytes(), column
        for table in ("generations", "test/answers"):
            for name in a[table]:
                assert a[table][name][()].tobytes() == b[table][name][()].tobytes(), f"{table}/{name}"


def test_inspect_prints_the_metrics(run):
    done = subprocess.run([BINARY, "inspect", str(run)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with h5py.File(run / "history.h5", "r") as f:
        h = f["history"]
        last = max(i for i in range(len(h["round"])) if not np.isnan(h["eval_f1"][i]))
        f1, task_loss, round_number = h["eval_f1"][last], h["eval_task_loss"][last], h["round"][last]
        test_loss = f["summary"].attrs["test_loss"]
    assert re.search(rf"answers at round {round_number} .*F1 {f1 * 100:.1f}%", done.stdout), done.stdout
    for name, value in zip(["chat", "define", "translate"], task_loss):
        assert re.search(rf"^\s+{name}\s+{value:.4f}\s", done.stdout, re.M), done.stdout
    assert f"test split (final model, once): loss {test_loss:.4f}" in done.stdout


def test_plain_text_runs_have_no_instruction_metrics(single_rank_run):
    run, _ = single_rank_run
    with h5py.File(run / "history.h5", "r") as f:
        h = f["history"]
        assert np.isnan(h["eval_exact_match"][()]).all() and np.isnan(h["eval_f1"][()]).all()
        assert not any(name.startswith("eval_task_") for name in h), list(h)
        assert "generations" not in f and "test" not in f and "tasks" not in h.attrs
        assert np.isnan(f["summary"].attrs["test_loss"]) and np.isnan(f["summary"].attrs["final_f1"])
    done = subprocess.run([BINARY, "inspect", str(run)], capture_output=True, text=True)
    assert "answers at round" not in done.stdout and "test split" not in done.stdout
