"""Llama end to end: jobs/finetune-llama.toml from a transformers-made folder with a SentencePiece-
style tokenizer.json, under real mpirun; export loaded by LlamaForCausalLM, whose greedy generation
equals `fedcybgd sample --temperature 0`; every algorithm, codecs, layer dropping, rank invariance
and bit-exact resume for a fresh Llama."""
import re
import subprocess

import h5py
import numpy as np
import pytest
from safetensors.numpy import load_file

import hf_models
import hf_tokenizers
from conftest import BINARY, FORTUNES, ROOT, TINY_JOB
from hf_models import run

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def make_llama_folder(folder, seed=0):
    """A random LlamaForCausalLM (4 query heads over 2 key/value heads, untied) with a TinyLlama-style tokenizer."""
    tok = hf_tokenizers.sentencepiece_style(vocab_size=1200)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=64, intermediate_size=160,
                                      num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                      max_position_embeddings=128, tie_word_embeddings=False,
                                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id)
    model = transformers.LlamaForCausalLM(config).float()
    model.save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


OVERRIDES = {"rounds": 8, "local_steps": 3, "batch": 4, "sequence": 64, "eval_batches": 2}


@pytest.fixture(scope="module")
def finetuned(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("finetune-llama")
    model = make_llama_folder(tmp / "llama-random")
    done, _ = hf_models.run_finetune_job(ROOT / "jobs/finetune-llama.toml", model, tmp, OVERRIDES)
    assert done.returncode == 0, f"fine-tuning failed:\n{done.stdout}\n{done.stderr}"
    return model, tmp / "runs" / "finetune-llama", done.stdout


def newest(run_folder):
    return sorted(run_folder.glob("checkpoint-*.h5"))[-1]


def test_finetune_job_trains_every_llama_tensor_with_its_tokenizer(finetuned):
    model, run_folder, stdout = finetuned
    start = load_file(str(model / "model.safetensors"))
    with h5py.File(newest(run_folder), "r") as f:
        end = {name: f["model"][name][()] for name in f["model"]}
        assert f["model"].attrs["architecture"] == "llama"
    assert set(end) == set(start)
    unchanged = {name for name in end if np.array_equal(end[name], start[name])}
    assert not unchanged, f"unchanged after 8 rounds over 4 blocks: {unchanged}"
    before, after = map(float, re.search(r"eval loss\s+(\d+\.\d+) →\s+(\d+\.\d+)", stdout).groups())
    assert after < before, stdout
    assert "nats/token" in stdout
    assert (run_folder / "tokenizer" / "tokenizer.json").exists()


def test_export_loads_as_llamaforcausallm_and_generates_our_text(finetuned, tmp_path):
    _, run_folder, _ = finetuned
    out = tmp_path / "export"
    run(BINARY, "export", run_folder, "--out", out)
    model, info = transformers.LlamaForCausalLM.from_pretrained(out, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info
    assert model.config.num_key_value_heads == 2 and not model.config.tie_word_embeddings
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    prompt = "The meaning of life is"
    ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
    assert ids[0, 0].item() == tokenizer.bos_token_id
    with torch.no_grad():
        greedy = model.generate(ids, max_new_tokens=30, do_sample=False, eos_token_id=None, pad_token_id=0)
    theirs = tokenizer.decode(greedy[0], skip_special_tokens=True)
    ours = run(BINARY, "sample", run_folder, "--prompt", prompt, "--tokens", "30", "--temperature", "0").stdout
    assert ours == theirs + "\n"


def llama_job(tmp, name, extra="", train=""):
    tmp.mkdir(parents=True, exist_ok=True)
    text = TINY_JOB.format(output=tmp / "runs", corpus=FORTUNES).replace('name = "tiny"', f'name = "{name}"')
    text = text.replace("[model]\n", '[model]\narchitecture = "llama"\nkv_heads = 1\nintermediate = 48\n')
    text = text.replace("threads = 1\n", "threads = 1\ncheckpoint_every = 4\n" + train) + extra
    path = tmp / f"{name}.toml"
    path.write_text(text)
    return path


def train(job, ranks, *flags):
    command = [BINARY, "train", str(job), *flags]
    if ranks is not None:
        command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks)] + command
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def final_model(folder):
    with h5py.File(newest(folder), "r") as f:
        return {name: f["model"][name][()] for name in f["model"]}


def bits_equal(a, b):
    return set(a) == set(b) and all(np.array_equal(a[k].view(np.uint32), b[k].view(np.uint32)) for k in a)


@pytest.mark.parametrize("algorithm", ["fedcybgd", "fedavg", "fedlora", "centralized", "badam"])
def test_every_algorithm_trains_a_llama_under_mpirun(tmp_path, algorithm):
    extra = "\n[lora]\nrank = 4\nalpha = 8\n" if algorithm == "fedlora" else ""
    job = llama_job(tmp_path, algorithm, extra, f'algorithm = "{algorithm}"\n')
    done = train(job, 3)
    assert done.returncode == 0, done.stdout + done.stderr
    with h5py.File(tmp_path / "runs" / algorithm / "history.h5", "r") as f:
        evals = f["history/eval_loss"][()]
        up = f["history/bytes_up"][()]
    finite = evals[~np.isnan(evals)]
    assert finite[-1] < finite[0], "training lowered the loss"
    if algorithm == "fedlora":
        with h5py.File(newest(tmp_path / "runs" / algorithm), "r") as f:
            adapters = f["state/lora_adapters"][()]
        # 2 layers x (q, k, v, o, gate, up, down), rank 4: A [in, 4] and B [4, out] each.
        c, q, kv, i = 32, 32, 16, 48
        per_layer = 4 * ((c + q) + (c + kv) * 2 + (q + c) + (c + i) * 2 + (i + c))
        assert adapters.size == 2 * per_layer
        assert (up == 2 * (4 * 2 * per_layer + 48)).all()


def test_codecs_and_dropping_give_the_same_llama_on_one_rank_and_three(tmp_path):
    extra = '\n[download]\ncodec = "int8"\ndrop_fraction = 0.5\ndrop_rule = "far"\n[upload]\ncodec = "int8"\n'
    one = llama_job(tmp_path / "one", "coded", extra)
    three = llama_job(tmp_path / "three", "coded", extra)
    for job, ranks in ((one, None), (three, 3)):
        done = train(job, ranks)
        assert done.returncode == 0, done.stdout + done.stderr
    assert bits_equal(final_model(tmp_path / "one/runs/coded"), final_model(tmp_path / "three/runs/coded"))


def test_llama_resume_equals_the_uninterrupted_run(tmp_path):
    whole = llama_job(tmp_path / "whole", "resume")
    part = llama_job(tmp_path / "part", "resume")
    assert train(whole, 3).returncode == 0
    first = train(part, 3, "--rounds", "4")
    assert first.returncode == 0, first.stdout + first.stderr
    second = train(part, 3, "--resume")
    assert second.returncode == 0 and "resumed from" in second.stdout, second.stdout + second.stderr
    assert bits_equal(final_model(tmp_path / "whole/runs/resume"), final_model(tmp_path / "part/runs/resume"))


def test_a_gpt2_checkpoint_as_llama_init_is_refused_in_one_line(tmp_path):
    gpt2 = tmp_path / "gpt2.toml"
    gpt2.write_text(TINY_JOB.format(output=tmp_path / "runs", corpus=FORTUNES).replace("rounds = 9", "rounds = 1"))
    assert train(gpt2, None).returncode == 0
    job = llama_job(tmp_path, "from-gpt2").read_text().replace("[model]\n", f'[model]\ninit = "{tmp_path / "runs/tiny"}"\n')
    job = re.sub(r"(?m)^(layers|width|heads) = .*\n", "", job)
    path = tmp_path / "from-gpt2.toml"
    path.write_text(job)
    done = train(path, None)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode != 0 and len(lines) == 1, done.stderr
    assert "model.architecture" in lines[0] and "GPT-2" in lines[0]
    assert not (tmp_path / "runs/from-gpt2").exists() or not list((tmp_path / "runs/from-gpt2").glob("*.h5"))


@pytest.mark.parametrize("order, selection, blocks", [("random", "random", "layers"), ("descending", "cyclic", "all")])
def test_block_orders_and_selections_are_rank_invariant_for_llama(tmp_path, order, selection, blocks):
    train_keys = f'block_order = "{order}"\nclient_selection = "{selection}"\nblocks = "{blocks}"\nlr_schedule = "cosine"\n'
    one = llama_job(tmp_path / "one", "options", train=train_keys)
    three = llama_job(tmp_path / "three", "options", train=train_keys)
    for job, ranks in ((one, None), (three, 3)):
        done = train(job, ranks)
        assert done.returncode == 0, done.stdout + done.stderr
    assert bits_equal(final_model(tmp_path / "one/runs/options"), final_model(tmp_path / "three/runs/options"))
    with h5py.File(tmp_path / "three/runs/options/history.h5", "r") as f:
        trained = f["history/block"][()]
    if blocks == "layers":
        assert set(trained) <= {1, 2}, trained
    else:
        assert list(trained[:4]) == [3, 2, 1, 0], trained


def test_a_bfloat16_sharded_llama_folder_starts_where_its_float32_copy_does(tmp_path):
    """Real checkpoints are half precision and sharded: the first evaluation from a bf16 folder in
    three shards equals, bit for bit, the one from the same weights saved as one float32 file."""
    source = make_llama_folder(tmp_path / "source", seed=4)
    model = transformers.LlamaForCausalLM.from_pretrained(source).to(torch.bfloat16)
    half = tmp_path / "bf16"
    model.save_pretrained(half, safe_serialization=True, max_shard_size="300KB")
    assert len(list(half.glob("model-*.safetensors"))) >= 3 and (half / "model.safetensors.index.json").exists()
    full = tmp_path / "fp32"
    model.to(torch.float32).save_pretrained(full, safe_serialization=True)
    for folder in (half, full):
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (folder / name).write_bytes((source / name).read_bytes())
    losses = []
    for folder in (half, full):
        job = llama_job(tmp_path / folder.name, "init").read_text()
        job = job.replace('[model]\narchitecture = "llama"\nkv_heads = 1\nintermediate = 48\n', f'[model]\ninit = "{folder}"\n')
        job = re.sub(r"(?m)^(layers|width|heads) = .*\n", "", job)
        path = tmp_path / folder.name / "init.toml"
        path.write_text(job.replace("rounds = 9", "rounds = 1"))
        done = train(path, None)
        assert done.returncode == 0, done.stdout + done.stderr
        with h5py.File(tmp_path / folder.name / "runs/init/history.h5", "r") as f:
            losses.append(f["summary"].attrs["initial_eval_loss"])
    assert np.isfinite(losses[0]) and losses[0] == losses[1]
