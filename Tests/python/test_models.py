"""Real pretrained models in and out: the BPE tokenizer against Hugging Face `tokenizers`,
import of a Hub-layout GPT-2 folder, the fine-tuning job in jobs/, export read back with the
`safetensors` package and `transformers`, and text generation."""
import json
import re
import shutil
import subprocess

import h5py
import numpy as np
import pytest
from safetensors.numpy import load_file

import hf_models
from conftest import BINARY, ROOT
from hf_models import run

SHARED_FIXTURE = ROOT / "Tests/GPTTests/Fixtures/gpt2-tiny"


@pytest.fixture(scope="session")
def vocabulary(tmp_path_factory):
    return hf_models.train_vocabulary(tmp_path_factory.mktemp("bpe"))


@pytest.fixture(scope="session")
def reference(vocabulary):
    return hf_models.train_bpe.reference(str(vocabulary / "vocab.json"), str(vocabulary / "merges.txt"))


def ids_of(stdout: str) -> list[list[int]]:
    return [[int(x) for x in line.split()] for line in stdout.split("\n")[:-1]]


def first_mismatch(lines, expected, ours, reference):
    for line, want, got in zip(lines, expected, ours):
        if want != got:
            return (f"line {line!r}\n  tokenizers: {[reference.id_to_token(i) for i in want]}\n"
                    f"  fedcybgd:   {[reference.id_to_token(i) for i in got]}")
    return None


def test_encoder_equals_tokenizers_on_thousands_of_varied_lines(vocabulary, reference, tmp_path):
    lines = hf_models.varied_lines()
    assert len(lines) >= 5000
    path = hf_models.write_lines(tmp_path / "lines.txt", lines)
    ours = ids_of(run(BINARY, "tokenize", "--tokenizer", vocabulary, "--lines", path).stdout)
    expected = [encoding.ids for encoding in reference.encode_batch(lines)]
    assert len(ours) == len(lines)
    assert ours == expected, first_mismatch(lines, expected, ours, reference)
    # The lines really exercise the special token and multi-token words, not just bytes.
    eot = reference.token_to_id("<|endoftext|>")
    assert sum(ids.count(eot) for ids in expected) > 50
    assert sum(len(ids) for ids in expected) < sum(len(line.encode()) for line in lines) / 1.5


def test_encoder_equals_tokenizers_on_whole_corpus_files(vocabulary, reference, tmp_path):
    texts = hf_models.fortunes_texts()
    names = ["art", "computers", "love", "wisdom", "zippy"]
    paths = []
    for name in names:
        (tmp_path / name).write_bytes(texts[name].encode("utf-8"))
        paths.append(tmp_path / name)
    ours = ids_of(run(BINARY, "tokenize", "--tokenizer", vocabulary, *paths).stdout)
    for name, ids in zip(names, ours):
        assert ids == reference.encode(texts[name]).ids, name


def test_decoding_gives_the_text_back(vocabulary, reference, tmp_path):
    lines = hf_models.varied_lines(count_corpus=1000, count_synthetic=1000, seed=7)
    ids = tmp_path / "ids.txt"
    ids.write_text("".join(" ".join(map(str, e.ids)) + "\n" for e in reference.encode_batch(lines)))
    out = run(BINARY, "tokenize", "--tokenizer", vocabulary, "--decode", ids).stdout
    decoded = [json.loads(line) for line in out.split("\n")[:-1]]  # not splitlines(): U+2028 is in the text
    assert decoded == lines


def test_tokenizer_files_from_another_tokenizer_are_refused(vocabulary, tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0, "b": 1}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b\n")
    done = run(BINARY, "tokenize", "--tokenizer", tmp_path, vocabulary / "vocab.json", check=False)
    assert done.returncode != 0
    assert "vocab.json lacks the byte token" in done.stderr and "256" in done.stderr


def test_names_and_shapes_are_those_transformers_saves():
    # The fixture was written by transformers' own save_pretrained; our list must be its list.
    fixture = load_file(str(SHARED_FIXTURE / "model.safetensors"))
    shapes = {name: tuple(array.shape) for name, array in fixture.items()}
    assert shapes == hf_models.expected_tensors(256, 32, 48, 2)


FINETUNE_OVERRIDES = {"rounds": 8, "local_steps": 3, "batch": 4, "sequence": 64, "eval_batches": 2}


@pytest.fixture(scope="session")
def finetuned(tmp_path_factory, vocabulary):
    """jobs/finetune-gpt2.toml run on 2 MPI ranks, starting from a small random GPT-2 folder."""
    tmp = tmp_path_factory.mktemp("finetune")
    model = hf_models.make_gpt2_folder(tmp / "gpt2-small-random", vocabulary)
    done, path = hf_models.run_finetune_job(ROOT / "jobs/finetune-gpt2.toml", model, tmp, FINETUNE_OVERRIDES)
    assert done.returncode == 0, f"fine-tuning failed:\n{done.stdout}\n{done.stderr}"
    return model, tmp / "runs" / "finetune-gpt2", done.stdout, path


def newest_checkpoint(run_folder):
    return sorted(run_folder.glob("checkpoint-*.h5"))[-1]


def test_finetune_job_trains_the_imported_model_with_bpe(finetuned):
    model, run_folder, stdout, _ = finetuned
    start = load_file(str(model / "model.safetensors"))
    with h5py.File(newest_checkpoint(run_folder), "r") as f:
        end = {name: f["model"][name][()] for name in f["model"]}
        assert f["model"].attrs["vocab_size"] == start["wte.weight"].shape[0]
        assert 'tokenizer = "bpe"' in f["config"].attrs["job"]
    changed = {name for name in end if not np.array_equal(end[name], start[name.removeprefix("transformer.")])}
    # 8 rounds over 4 blocks: every block trained, so every tensor moved away from the import.
    assert changed == set(end), f"unchanged: {set(end) - changed}"
    before, after = map(float, re.search(r"eval loss\s+(\d+\.\d+) →\s+(\d+\.\d+)", stdout).groups())
    assert after < before, stdout
    assert (run_folder / "tokenizer" / "vocab.json").exists() and (run_folder / "corpus-tokens.bin").exists()
    assert "BPE-encoded" in stdout
    # A BPE model's losses are per token, in the files and on the screen.
    assert "nats/token" in stdout and "nats/byte" not in stdout
    with h5py.File(run_folder / "history.h5", "r", locking=False) as f:
        assert f["history/eval_loss"].attrs["units"] == "nats/token"
        assert f["summary"].attrs["final_eval_loss_units"] == "nats/token"


def test_second_run_reads_the_token_cache(finetuned, tmp_path):
    _, run_folder, _, job = finetuned
    shutil.copytree(run_folder, tmp_path / "finetune-gpt2")  # a copy, so the shared run stays as it was
    done = run(BINARY, "train", job, "--output", tmp_path, "--rounds", "1", "--replace", "--threads", "1")
    assert "corpus tokens read from" in done.stdout and "BPE-encoded" not in done.stdout


def test_export_loads_with_safetensors_and_equals_the_run(finetuned, tmp_path):
    _, run_folder, _, _ = finetuned
    out = tmp_path / "export"
    run(BINARY, "export", run_folder, "--out", out)
    exported = load_file(str(out / "model.safetensors"))
    with h5py.File(newest_checkpoint(run_folder), "r") as f:
        stored = {name: f["model"][name][()] for name in f["model"]}
        attrs = dict(f["model"].attrs)
    assert set(exported) == set(stored)
    for name, array in stored.items():
        assert exported[name].dtype == np.float32 and np.array_equal(exported[name], array), name
    shapes = {name: tuple(a.shape) for name, a in exported.items()}
    assert shapes == hf_models.expected_tensors(int(attrs["vocab_size"]), int(attrs["n_positions"]),
                                                int(attrs["n_embd"]), int(attrs["n_layer"]))


def test_export_config_and_tokenizer_load_with_transformers(finetuned, vocabulary, tmp_path):
    from transformers import AutoConfig, AutoTokenizer, GPT2Config

    _, run_folder, _, _ = finetuned
    out = tmp_path / "export"
    run(BINARY, "export", run_folder, "--out", out)
    config = AutoConfig.from_pretrained(out)
    assert isinstance(config, GPT2Config) and config.model_type == "gpt2"
    assert (config.n_layer, config.n_embd, config.n_head, config.n_positions) == (2, 64, 4, 128)
    assert config.tie_word_embeddings and config.activation_function == "gelu_new"
    tokenizer = AutoTokenizer.from_pretrained(out)
    text = "It's 42 o'clock <|endoftext|> naïve   fortunes!\n"
    (tmp_path / "text.txt").write_text(text)
    ours = ids_of(run(BINARY, "tokenize", "--tokenizer", out, tmp_path / "text.txt").stdout)[0]
    assert tokenizer(text)["input_ids"] == ours
    assert tokenizer.eos_token_id == config.eos_token_id == json.loads((vocabulary / "vocab.json").read_text())["<|endoftext|>"]


def test_sample_continues_the_prompt_reproducibly(finetuned):
    _, run_folder, _, _ = finetuned
    first = run(BINARY, "sample", run_folder, "--prompt", "The meaning of", "--tokens", "24", "--seed", "5").stdout
    again = run(BINARY, "sample", run_folder, "--prompt", "The meaning of", "--tokens", "24", "--seed", "5").stdout
    other = run(BINARY, "sample", run_folder, "--prompt", "The meaning of", "--tokens", "24", "--seed", "6").stdout
    assert first.startswith("The meaning of") and len(first) > len("The meaning of") + 10
    assert first == again and first != other


def test_import_refuses_another_model_type_naming_the_key(finetuned, tmp_path):
    model, _, _, job = finetuned
    bad = tmp_path / "mistral"
    bad.mkdir()
    config = json.loads((model / "config.json").read_text())
    config["model_type"] = "mistral"
    (bad / "config.json").write_text(json.dumps(config))
    text = job.read_text().replace(f'init = "{model}"', f'init = "{bad}"')
    (tmp_path / "job.toml").write_text(text)
    done = run(BINARY, "train", tmp_path / "job.toml", "--output", tmp_path, check=False)
    assert done.returncode != 0 and "model_type" in done.stderr and "mistral" in done.stderr


def test_import_refuses_model_keys_that_contradict_config_json(finetuned, tmp_path):
    _, _, _, job = finetuned
    text = job.read_text().replace("[model]\n", "[model]\nlayers = 6\n")
    (tmp_path / "job.toml").write_text(text)
    done = run(BINARY, "train", tmp_path / "job.toml", "--output", tmp_path, check=False)
    assert done.returncode != 0 and "model.layers = 6" in done.stderr and "n_layer = 2" in done.stderr


def test_export_imports_back_to_the_same_model(finetuned, tmp_path):
    # The exported folder as model.init: the first evaluation of the new run sees exactly the
    # source run's final model (same corpus, tokenizer and evaluation batches).
    _, run_folder, stdout, job = finetuned
    out = tmp_path / "export"
    run(BINARY, "export", run_folder, "--out", out)
    text = re.sub(r'(?m)^init = "[^"]*"', f'init = "{out}"', job.read_text())
    (tmp_path / "again.toml").write_text(text)
    run(BINARY, "train", tmp_path / "again.toml", "--output", tmp_path / "runs", "--rounds", "1", "--threads", "1")
    with h5py.File(run_folder / "history.h5", "r") as source, h5py.File(tmp_path / "runs/finetune-gpt2/history.h5", "r") as again:
        final, initial = source["summary"].attrs["final_eval_loss"], again["summary"].attrs["initial_eval_loss"]
    assert np.isfinite(final) and initial == final  # bit for bit: the model came back unchanged


def test_bpe_without_tokenizer_files_is_refused_naming_the_keys(tmp_path):
    job = tmp_path / "job.toml"
    job.write_text(f'[data]\ncorpus = "{hf_models.FORTUNES}"\ntokenizer = "bpe"\n[train]\nrounds = 1\n')
    done = run(BINARY, "train", job, "--output", tmp_path, check=False)
    assert done.returncode != 0 and "data.vocab and data.merges" in done.stderr and "model.init" in done.stderr


def test_export_loads_as_gpt2lmheadmodel_and_generates_our_text(finetuned, tmp_path):
    # Needs PyTorch, which the test set-up does not install; the CPU-only wheel (torch==2.13.0+cpu,
    # 190 MB) is enough: PYTHONPATH=<folder with torch> python3 -m pytest Tests/python/test_models.py
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer, GPT2LMHeadModel

    _, run_folder, _, _ = finetuned
    out = tmp_path / "export"
    run(BINARY, "export", run_folder, "--out", out)
    model, info = GPT2LMHeadModel.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr()  # tied
    tokenizer = AutoTokenizer.from_pretrained(out)
    prompt = "The meaning of"
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        greedy = model.generate(ids, max_new_tokens=20, do_sample=False, eos_token_id=None, pad_token_id=0)
    theirs = tokenizer.decode(greedy[0])
    ours = run(BINARY, "sample", run_folder, "--prompt", prompt, "--tokens", "20", "--temperature", "0").stdout
    assert ours == theirs + "\n"
