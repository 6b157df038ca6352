"""Hugging Face tokenizer.json files read by fedcybgd: ids and decoded text equal those of the
`tokenizers` library on thousands of varied lines, for each style real models ship; unsupported
kinds are refused; a run uses a tokenizer.json end to end."""
import json
import random

import pytest

import hf_models
import hf_tokenizers as hft
from conftest import BINARY
from hf_models import run

LINES = hft.varied_lines(6000, seed=2024)


def styles():
    sentencepiece = hft.sentencepiece_style()
    llama3 = hft.llama3_style()
    return {
        "gpt2": hft.gpt2_style(),
        "gpt2-prefix-space": hft.edited(hft.gpt2_style(), pre_tokenizer={
            "type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}),
        "smollm": hft.smollm_style(),
        "llama3": hft.with_unreachable_words(llama3, LINES),
        "qwen2-pattern": hft.edited(llama3, pre_tokenizer=json.loads(
            llama3.to_str())["pre_tokenizer"] | {"pretokenizers": [
                {"type": "Split", "pattern": {"Regex": hft.QWEN2_PATTERN}, "behavior": "Isolated", "invert": False},
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}),
        "tinyllama": sentencepiece,
        "metaspace-first": hft.metaspace_style(sentencepiece, "first", split=False),
        "metaspace-always-split": hft.metaspace_style(sentencepiece, "always", split=True),
    }


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tokenizers")
    built = {}
    for name, tokenizer in styles().items():
        path = folder / f"{name}.json"
        tokenizer.save(str(path))
        built[name] = (tokenizer, path)
    return built


@pytest.fixture(scope="module")
def lines_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("lines") / "lines.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    return path


def ids_of(stdout: str) -> list[list[int]]:
    return [[int(x) for x in line.split()] for line in stdout.split("\n")[:-1]]


def first_mismatch(expected, ours, tokenizer):
    for line, want, got in zip(LINES, expected, ours):
        if want != got:
            return (f"line {line!r}\n  tokenizers: {[tokenizer.id_to_token(i) for i in want]}\n"
                    f"  fedcybgd:   {[tokenizer.id_to_token(i) for i in got]}")
    return None


STYLES = ["gpt2", "gpt2-prefix-space", "smollm", "llama3", "qwen2-pattern", "tinyllama", "metaspace-first",
          "metaspace-always-split"]


@pytest.mark.parametrize("style", STYLES)
def test_ids_equal_tokenizers_on_thousands_of_varied_lines(style, tokenizers, lines_file):
    tokenizer, path = tokenizers[style]
    assert len(LINES) >= 5000
    expected = [encoding.ids for encoding in tokenizer.encode_batch(LINES)]
    ours = ids_of(run(BINARY, "tokenize", "--tokenizer", path, "--json-lines", lines_file).stdout)
    assert len(ours) == len(LINES)
    assert ours == expected, first_mismatch(expected, ours, tokenizer)
    # The lines reach multi-token words, added tokens and, where there is one, byte fallback.
    vocab = tokenizer.get_vocab()
    every = [i for ids in expected for i in ids]
    assert len(every) < sum(len(line.encode()) for line in LINES) / 1.5
    added = set(tokenizer.get_added_tokens_decoder())
    assert sum(1 for i in every if i in added) > 100
    if style in ("tinyllama", "metaspace-first", "metaspace-always-split"):
        assert sum(1 for i in every if tokenizer.id_to_token(i).startswith("<0x")) > 500
        assert every.count(vocab["<s>"]) > len(LINES)  # prepended to each line, and found in the text
    if style == "llama3":
        # Words added past the trained 1500 ids, which the merges would split: ignore_merges at work.
        assert sum(1 for i in every if i >= 1500) > 100


@pytest.mark.parametrize("style", STYLES)
def test_decoding_equals_tokenizers(style, tokenizers, tmp_path):
    tokenizer, path = tokenizers[style]
    rng = random.Random(5)
    sequences = [e.ids for e in tokenizer.encode_batch(LINES[:2000])]
    size = tokenizer.get_vocab_size()
    sequences += [[rng.randrange(size) for _ in range(rng.randint(0, 30))] for _ in range(1000)]
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(" ".join(map(str, s)) + "\n" for s in sequences))
    out = run(BINARY, "tokenize", "--tokenizer", path, "--decode", ids).stdout
    decoded = [json.loads(line) for line in out.split("\n")[:-1]]  # not splitlines(): U+2028 is in the text
    expected = tokenizer.decode_batch(sequences)
    assert len(decoded) == len(expected)
    for sequence, want, got in zip(sequences, expected, decoded):
        assert got == want, f"ids {sequence}: tokenizers {want!r}, fedcybgd {got!r}"


def refusal(tmp_path, name, tokenizer):
    path = tmp_path / f"{name}.json"
    tokenizer.save(str(path))
    text = tmp_path / "text.txt"
    text.write_text("hello world\n")
    done = run(BINARY, "tokenize", "--tokenizer", path, text, check=False)
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


def test_unigram_and_wordpiece_are_refused_naming_their_kind(tmp_path):
    from tokenizers import Tokenizer, models
    unigram = Tokenizer(models.Unigram([("<unk>", 0.0), ("hello", -1.0), ("world", -2.0), ("▁", -3.0)], unk_id=0))
    message = refusal(tmp_path, "unigram", unigram)
    assert "Unigram" in message and "BPE" in message
    wordpiece = Tokenizer(models.WordPiece({"[UNK]": 0, "hello": 1, "world": 2}, unk_token="[UNK]"))
    message = refusal(tmp_path, "wordpiece", wordpiece)
    assert "WordPiece" in message and "BPE" in message


def test_unknown_normalizer_and_pattern_are_refused_naming_them(tmp_path):
    from tokenizers import Regex, normalizers, pre_tokenizers
    nfkc = hft.gpt2_style()
    nfkc.normalizer = normalizers.NFKC()
    assert "NFKC" in refusal(tmp_path, "nfkc", nfkc)
    other = hft.gpt2_style()
    other.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"\w+|\W"), behavior="isolated"),
                                                   pre_tokenizers.ByteLevel(use_regex=False)])
    assert r"\w+|\W" in refusal(tmp_path, "pattern", other)


RUN_JOB = """\
name = "hf"
output = "{output}"
seed = 3
[model]
layers = 1
width = 32
heads = 2
[data]
corpus = "{corpus}"
partition = "iid"
clients = 2
tokenizer_json = "{tokenizer}"
[train]
rounds = 2
clients_per_round = 1
local_steps = 1
batch = 2
sequence = 32
eval_batches = 1
threads = 1
"""


def test_a_run_trains_on_tokenizer_json_ids_and_samples_with_it(tokenizers, tmp_path):
    tokenizer, path = tokenizers["tinyllama"]
    corpus = tmp_path / "corpus.txt"
    corpus.write_bytes("\n".join(LINES[:400]).encode())
    job = tmp_path / "job.toml"
    job.write_text(RUN_JOB.format(output=tmp_path / "runs", corpus=corpus, tokenizer=path))
    run(BINARY, "train", job)
    folder = tmp_path / "runs" / "hf"
    assert (folder / "tokenizer" / "tokenizer.json").read_bytes() == path.read_bytes()
    assert (folder / "corpus-tokens.bin").exists()
    # The cached corpus ids are the library's (with <s> in front of the one document).
    tokens = (folder / "corpus-tokens.bin").read_bytes()
    expected = tokenizer.encode(corpus.read_bytes().decode()).ids  # not read_text(): it turns \r\n into \n
    import numpy as np
    assert np.frombuffer(tokens[-4 * len(expected):], dtype="<i4").tolist() == expected
    sampled = run(BINARY, "sample", folder, "--prompt", "hello", "--tokens", "8", "--temperature", "0")
    assert sampled.stdout.startswith("hello") or sampled.stderr.startswith("hello")


def test_a_tokenizer_larger_than_the_model_is_refused_naming_both_sizes(tokenizers, tmp_path):
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "vocab.json").write_text(json.dumps({chr(0x100 + i): i for i in range(299)} | {"<|endoftext|>": 299}))
    (vocab / "merges.txt").write_text("#version: 0.2\n")
    model = hf_models.make_gpt2_folder(tmp_path / "model", vocab, layers=1, width=32, heads=2, positions=64)
    tokenizer, path = tokenizers["llama3"]
    (model / "tokenizer.json").write_bytes(path.read_bytes())
    job = tmp_path / "job.toml"
    job.write_text(f'[model]\ninit = "{model}"\n[data]\ncorpus = "{hf_models.FORTUNES}"\n[train]\nrounds = 1\nsequence = 32\n')
    done = run(BINARY, "train", job, check=False)
    assert done.returncode != 0
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert f"{tokenizer.get_vocab_size()} ids" in message and "vocab_size is 300" in message and "tokenizer.json" in message
