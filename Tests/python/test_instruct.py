"""Instruction data (data.format = "jsonl") run for real: bad records by line, response-only
token totals computed here independently (bytes, and Hugging Face `tokenizers`), one client per
task, mpirun -n 3 equal to one rank; and the data builder's output from the installed dictionaries."""
import collections
import json
import os
import pathlib
import re
import subprocess
import sys

import h5py
import pytest

from conftest import BINARY, ROOT, assert_same_parameters

sys.path.insert(0, os.path.dirname(__file__))
import hf_tokenizers as hft  # noqa: E402

# Stanford Alpaca's template (PROMPT_DICT in tatsu-lab/stanford_alpaca's train.py) and ChatML.
ALPACA_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                "Write a response that appropriately completes the request.\n\n"
                "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n")
ALPACA = ("Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
          "### Instruction:\n{instruction}\n\n### Response:\n")

JOB = """\
name = "instruct"
output = "{output}"
seed = 5

[model]
layers = 2
width = 32
heads = 2

[data]
corpus = "{corpus}"
format = "jsonl"
partition = "by-field"
partition_field = "task"
bad_records = "{bad}"
validation_fraction = 0.2
test_fraction = 0.1
pack = {pack}
{tokenizer}

[train]
rounds = 6
clients_per_round = 2
local_steps = 2
batch = 3
sequence = 256
learning_rate = 3e-3
eval_batches = 2
checkpoint_every = 6
threads = 1
"""

# Lines (1-based) of the bad records the file below holds, and the first reason.
BAD_LINES = [4, 9, 14, 19, 24, 29]


def records():
    """Three tasks, each with responses of one byte length (so each unpacked row counts the
    same), Alpaca with and without input, and chat; bad records at BAD_LINES."""
    lines = []
    for i in range(36):
        if len(lines) + 1 in BAD_LINES:
            lines.append([
                'not json at all',
                json.dumps({"task": "define", "instruction": "Define x."}),
                json.dumps({"task": "define", "instruction": "Define x.", "output": "  "}),
                json.dumps({"task": "define", "instruction": 3, "output": "y"}),
                json.dumps({"task": "define", "instruction": "Define x.", "output": "".join(chr(0x4E00 + 37 * k) for k in range(300))}),
                json.dumps({"task": "chat", "messages": [{"role": "user", "content": "hi"}]}),
            ][BAD_LINES.index(len(lines) + 1)])
        kind = i % 3
        if kind == 0:
            lines.append(json.dumps({"task": "define", "instruction": f"Define the word number {i}.", "output": f"meaning {i:02d}"}))
        elif kind == 1:
            lines.append(json.dumps({"task": "translate", "instruction": "Translate into German.", "input": f"dog {'x' * (i % 5)}",
                                     "output": f"Hund {i:02d}!"}))
        else:
            lines.append(json.dumps({"task": "chat", "messages": [{"role": "system", "content": "Be short."},
                                                                  {"role": "user", "content": f"Say hello {i} times"},
                                                                  {"role": "assistant", "content": f"hello x{i:02d}"}]}))
    return lines


def response_text(record):
    """What the loss counts, besides the end-of-sequence token: the output, or the assistant's
    content with ChatML's end marker."""
    if "messages" in record:
        return record["messages"][-1]["content"] + "<|im_end|>"
    return record["output"]


def prompt_text(record):
    if "messages" in record:
        messages = record["messages"]
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages[:-1])
        return text + "<|im_start|>assistant\n"
    template = ALPACA_INPUT if record.get("input") else ALPACA
    return template.format(**record)


def write_data(tmp):
    path = tmp / "data.jsonl"
    lines = records()
    path.write_text("\n".join(lines) + "\n")
    good = {n + 1: json.loads(line) for n, line in enumerate(lines) if n + 1 not in BAD_LINES}
    return path, good


def train(tmp, ranks=None, bad="skip", pack="false", tokenizer="", data=None):
    """Trains on `data` (the file write_data writes when None)."""
    if not os.access(BINARY, os.X_OK):
        pytest.fail(f"no fedcybgd binary at {BINARY}; run 'make test', which builds it")
    tmp.mkdir(parents=True, exist_ok=True)
    data, good = write_data(tmp) if data is None else (data, None)
    job = tmp / "job.toml"
    job.write_text(JOB.format(output=tmp / "runs", corpus=data, bad=bad, pack=pack, tokenizer=tokenizer))
    command = [BINARY, "train", str(job)]
    if ranks:
        command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks)] + command
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    return done, tmp / "runs" / "instruct", data, good


def training_lines(run, good):
    """Per client name, the good lines that are not held out, from partition.h5."""
    with h5py.File(run / "partition.h5", "r") as f:
        names = f.attrs["client_names"].split("\n")
        held = set(f["held_out/line"][()].tolist())
    lines = collections.defaultdict(list)
    for line, record in good.items():
        if line not in held:
            lines[record["task"]].append(line)
    return names, lines


def test_stop_mode_names_the_first_bad_line_and_writes_nothing(tmp_path):
    done, run, data, _ = train(tmp_path, bad="stop")
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert f"{data}:{BAD_LINES[0]}: not valid JSON" in lines[0]
    assert "data.bad_records" in lines[0]
    assert not run.exists() or not any(run.iterdir()), list(run.iterdir())


def test_record_that_is_not_utf8_is_stopped_on_or_skipped(tmp_path):
    """JSON text is UTF-8: a record holding bytes 0xFF 0xFE is a bad record, not trained on."""
    lines = [line.encode() for n, line in enumerate(records(), 1) if n not in BAD_LINES]
    lines.insert(2, b'{"task": "define", "instruction": "Define x.", "output": "y \xff\xfe"}')
    data = tmp_path / "data.jsonl"
    data.write_bytes(b"\n".join(lines) + b"\n")
    done, run, _, _ = train(tmp_path / "stop", bad="stop", data=data)
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{data}:3: not UTF-8 — " in lines[0], done.stderr
    assert not run.exists() or not any(run.iterdir()), list(run.iterdir())
    done, run, _, _ = train(tmp_path / "skip", data=data)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"skipped 1 bad record of {data}" in done.stdout
    with h5py.File(run / "partition.h5", "r") as f:
        assert f.attrs["skipped_records"] == 1
        assert f["skipped/line"][()].tolist() == [3]
        assert bytes(f["skipped/reason_utf8"][()]).decode() == "not UTF-8"


def test_inspect_says_a_task_has_no_validation_records_instead_of_nan(tmp_path):
    """A task of one record keeps it for training (validation_fraction 0.2 of 1 rounds to 0)."""
    lines = [line for n, line in enumerate(records(), 1) if n not in BAD_LINES]
    lines.append(json.dumps({"task": "lonely", "instruction": "Say one.", "output": "one"}))
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(lines) + "\n")
    done, run, _, _ = train(tmp_path / "run", data=data)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    with h5py.File(run / "history.h5", "r") as f:
        tasks = f["history"].attrs["tasks"].split("\n")
        assert f["history"].attrs["validation_tokens"].tolist()[tasks.index("lonely")] == 0
    shown = subprocess.run([BINARY, "inspect", str(run)], capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert re.search(r"^\s+lonely\s+no validation records evaluated$", shown.stdout, re.M), shown.stdout
    assert re.search(r"^\s+define\s+\d+\.\d{4}\s", shown.stdout, re.M), shown.stdout
    rows = [line for line in shown.stdout.splitlines() if re.match(r"^\s+(lonely|define|translate|chat)\s", line)]
    assert len(rows) == 4 and not any("nan" in row for row in rows), shown.stdout


def test_skip_mode_counts_bad_records_and_totals_count_responses_only(tmp_path):
    done, run, data, good = train(tmp_path / "p1")
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert f"skipped {len(BAD_LINES)} bad records of {data}" in done.stdout
    with h5py.File(run / "partition.h5", "r") as f:
        assert f.attrs["skipped_records"] == len(BAD_LINES)
        assert f["skipped/line"][()].tolist() == BAD_LINES
        reasons = bytes(f["skipped/reason_utf8"][()]).decode()
        assert "not valid JSON" in reasons and "more than train.sequence + 1 = 257" in reasons
        assert f.attrs["client_names"].split("\n") == ["chat", "define", "translate"], "one client per task, sorted"
        client_tokens = f["client_tokens"][()].tolist()
    names, lines = training_lines(run, good)
    # Counted tokens: each training record's response bytes and its end byte, computed here.
    per_record = {task: {len(response_text(good[n]).encode()) + 1 for n in lines[task]} for task in names}
    assert all(len(sizes) == 1 for sizes in per_record.values()), per_record
    expected = [sum(len(response_text(good[n]).encode()) + 1 for n in lines[task]) for task in names]
    assert client_tokens == expected
    with h5py.File(run / "history.h5", "r") as f:
        clients = f["history/clients"][()]
        total = f["summary"].attrs["tokens_trained"]
    # Unpacked, every row holds one record: a visit counts steps · batch · (response + 1).
    steps, batch = 2, 3
    assert total == sum(steps * batch * next(iter(per_record[names[c]])) for row in clients for c in row if c >= 0)

    done3, run3, _, _ = train(tmp_path / "p3", ranks=3)
    assert done3.returncode == 0, done3.stdout[-2000:] + done3.stderr[-2000:]
    c1, c3 = sorted(run.glob("checkpoint-*.h5"))[-1], sorted(run3.glob("checkpoint-*.h5"))[-1]
    assert_same_parameters(c1, c3)


def test_bpe_tokens_and_mask_match_hugging_face_tokenizers(tmp_path):
    """A SmolLM-style tokenizer.json (ChatML markers as added tokens), packed rows: the held-out
    records' ids and masks, and each client's counted tokens, equal what `tokenizers` gives."""
    tokenizer = hft.smollm_style()
    tokenizer_path = tmp_path / "tokenizer.json"
    tokenizer.save(str(tokenizer_path))
    done, run, _, good = train(tmp_path, pack="true", tokenizer=f'tokenizer_json = "{tokenizer_path}"')
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    def ids(text):
        return tokenizer.encode(text, add_special_tokens=False).ids

    eos = tokenizer.token_to_id("<|endoftext|>")
    with h5py.File(run / "partition.h5", "r") as f:
        client_tokens = f["client_tokens"][()].tolist()
        held = f["held_out"]
        offsets, tokens, counted = held["token_offsets"][()], held["tokens"][()], held["counted"][()]
        prompt_lengths = held["prompt_length"][()]
        refs, ref_offsets = bytes(held["reference_utf8"][()]), held["reference_offsets"][()]
        for i, line in enumerate(held["line"][()].tolist()):
            record = good[line]
            prompt, response = ids(prompt_text(record)), ids(response_text(record))
            assert tokens[offsets[i]:offsets[i + 1]].tolist() == prompt + response + [eos], line
            assert counted[offsets[i]:offsets[i + 1]].tolist() == [0] * len(prompt) + [1] * (len(response) + 1), line
            assert prompt_lengths[i] == len(prompt)
            reference = record["messages"][-1]["content"] if "messages" in record else record["output"]
            assert refs[ref_offsets[i]:ref_offsets[i + 1]].decode() == reference
    names, lines = training_lines(run, good)
    assert client_tokens == [sum(len(ids(response_text(good[n]))) + 1 for n in lines[task]) for task in names]


def test_data_builder_writes_every_task_from_the_installed_dictionaries(tmp_path):
    out = tmp_path / "instruct.jsonl"
    built = subprocess.run([sys.executable, str(ROOT / "scripts/make-instruct-data.py"), "--out", str(out),
                            "--per-task", "40"], capture_output=True, text=True, timeout=600)
    if "missing" in built.stderr:
        pytest.fail(built.stderr)
    assert built.returncode == 0, built.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    by_task = collections.Counter(row["task"] for row in rows)
    assert set(by_task) == {"define", "define-webster", "translate-de", "translate-fr", "translate-es", "acronym",
                            "jargon", "computing", "element-symbol", "element-number", "riddle"}
    assert all(1 <= count <= 40 for count in by_task.values()), by_task
    for row in rows:
        answer = row["messages"][-1]["content"] if "messages" in row else row["output"]
        assert answer and answer == " ".join(answer.split()) and len(answer) <= 120, row
    gold = {row["instruction"]: row["output"] for row in rows if "instruction" in row}
    assert gold.get('What is the chemical symbol of gold?', "Au") == "Au"
    assert gold.get('What does the acronym "CPU" stand for?', "Central Processing Unit") == "Central Processing Unit"
    again = tmp_path / "again.jsonl"
    subprocess.run([sys.executable, str(ROOT / "scripts/make-instruct-data.py"), "--out", str(again), "--per-task", "40"],
                   check=True, capture_output=True, timeout=600)
    assert again.read_bytes() == out.read_bytes(), "the builder is deterministic"
