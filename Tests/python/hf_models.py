"""Helpers for the model import/export tests: a small random GPT-2 in Hugging Face layout,
a BPE vocabulary trained with `tokenizers`, and varied text to compare tokenizers on."""
import json
import os
import pathlib
import random
import re
import shutil
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
BINARY = os.environ.get("FEDCYBGD_BIN", str(ROOT / ".build/release/fedcybgd"))
sys.path.insert(0, str(ROOT / "scripts"))
import train_bpe  # noqa: E402  (scripts/ is not a package)

FORTUNES = pathlib.Path("/usr/share/games/fortunes")


def fortunes_texts():
    """Every fortunes category file, as fedcybgd reads the folder (no links, no binaries)."""
    texts = {}
    for path in sorted(FORTUNES.iterdir()):
        if path.is_symlink() or not path.is_file() or path.name.startswith("."):
            continue
        data = path.read_bytes()
        if data and b"\0" not in data[:8192]:
            texts[path.name] = data.decode("utf-8")
    return texts


def train_vocabulary(out: pathlib.Path, vocab_size: int = 2000) -> pathlib.Path:
    """A byte-level BPE vocabulary trained on the first half of every fortunes file."""
    texts = [text[: len(text) // 2] for text in fortunes_texts().values()]
    train_bpe.train(texts, vocab_size, out)
    return out


# Pieces that exercise each branch of GPT-2's pre-tokenisation pattern and the byte mapping.
PIECES = [
    "it's", "I'm", "we'll", "they've", "she'd", "you're", "don't", "IT'S", "o'clock", "''s", "'", "rock'n'roll",
    "12", "3.14159", "1,000,000", "2024-01-01", "0x1F", "007", "٣٤", "²³", "½", "Ⅻ", "٫",
    "naïve", "café", "Straße", "ǅ", "ʰ", "々", "日本語", "中文字符", "한국어", "русский", "ελληνικά", "עברית",
    "العربية", "हिन्दी", "ไทย", "e\u0301", "👍", "👍🏽", "👨\u200d👩\u200d👧", "🏳️\u200d🌈", "\u200b", "\ufeff",
    "\u00a0", "\u3000", "\u2028", "\u2029", "\u0085", "\u1680", "\u202f", "\t", "  ", "   ", "\r", "\x0b", "\x0c",
    "\x1c", "\x1f", "\x7f", "<|endoftext|>", "<|endoftext", "!!!", "...", "—", "«»", "$%^&*", "@user", "#tag",
    "a_b", "x1y2", "ABC", "hello", "world", "Hello", "the", "The", " ", "~", "\\", "\"quoted\"",
]
GAPS = ["", " ", "  ", "\t", " \t ", "   ", "\u00a0", " \r"]


def varied_lines(count_corpus: int = 2500, count_synthetic: int = 2500, seed: int = 6) -> list[str]:
    """Corpus lines (with their whitespace) plus synthetic lines mixing Unicode, whitespace runs,
    contractions and digits. No line holds a newline: the lines are written one per line."""
    rng = random.Random(seed)
    corpus = [line for text in fortunes_texts().values() for line in text.split("\n") if line]
    lines = rng.sample(corpus, min(count_corpus, len(corpus)))
    for _ in range(count_synthetic):
        lines.append("".join(rng.choice(PIECES) + rng.choice(GAPS) for _ in range(rng.randint(1, 12))))
    return lines


def write_lines(path: pathlib.Path, lines: list[str]) -> pathlib.Path:
    path.write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
    return path


def run(binary: str, *arguments, check=True, timeout=600) -> subprocess.CompletedProcess:
    done = subprocess.run([binary, *map(str, arguments)], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"fedcybgd {' '.join(map(str, arguments))} failed:\n{done.stdout}\n{done.stderr}"
    return done


def make_gpt2_folder(out: pathlib.Path, vocab: pathlib.Path, layers=2, width=64, heads=4, positions=128, seed=0):
    """A random GPT-2 in the layout the Hub serves for `gpt2`: config.json written by
    transformers, weights without the `transformer.` prefix, the causal-mask buffers
    `h.N.attn.bias` and no lm_head (tied), plus the tokenizer files."""
    from safetensors.numpy import save_file
    from transformers import GPT2Config

    vocab_size = len(json.loads((vocab / "vocab.json").read_text()))
    eot = json.loads((vocab / "vocab.json").read_text())["<|endoftext|>"]
    GPT2Config(vocab_size=vocab_size, n_positions=positions, n_embd=width, n_layer=layers, n_head=heads,
               bos_token_id=eot, eos_token_id=eot).save_pretrained(out)
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, shape in expected_tensors(vocab_size, positions, width, layers).items():
        short = name.removeprefix("transformer.")
        if "ln_" in name:
            base = 1.0 if name.endswith("weight") else 0.0
            tensors[short] = (base + 0.05 * rng.standard_normal(shape)).astype(np.float32)
        else:
            tensors[short] = (0.05 * rng.standard_normal(shape)).astype(np.float32)
    for layer in range(layers):
        tensors[f"h.{layer}.attn.bias"] = np.tril(np.ones((positions, positions), np.float32))[None, None]
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    for name in ("vocab.json", "merges.txt"):
        shutil.copy(vocab / name, out / name)
    return out


def expected_tensors(vocab_size, positions, width, layers):
    """The state-dict names and shapes of transformers' GPT2LMHeadModel (without the tied
    lm_head, which save_pretrained leaves out): Conv1D weights are [in, out]."""
    tensors = {"transformer.wte.weight": (vocab_size, width), "transformer.wpe.weight": (positions, width)}
    for layer in range(layers):
        p = f"transformer.h.{layer}."
        tensors.update({
            p + "ln_1.weight": (width,), p + "ln_1.bias": (width,),
            p + "attn.c_attn.weight": (width, 3 * width), p + "attn.c_attn.bias": (3 * width,),
            p + "attn.c_proj.weight": (width, width), p + "attn.c_proj.bias": (width,),
            p + "ln_2.weight": (width,), p + "ln_2.bias": (width,),
            p + "mlp.c_fc.weight": (width, 4 * width), p + "mlp.c_fc.bias": (4 * width,),
            p + "mlp.c_proj.weight": (4 * width, width), p + "mlp.c_proj.bias": (width,),
        })
    tensors.update({"transformer.ln_f.weight": (width,), "transformer.ln_f.bias": (width,)})
    return tensors


def run_finetune_job(job_file: pathlib.Path, model: pathlib.Path, tmp: pathlib.Path, overrides: dict, ranks: int = 2):
    """Runs a jobs/finetune-*.toml on `ranks` MPI ranks from `model`, with `overrides` of its
    [train] keys (`rounds` replaces `cycles`); returns the finished process and the job path."""
    job = job_file.read_text()
    job, replaced = re.subn(r'(?m)^init = "[^"]*"', f'init = "{model}"', job)
    assert replaced == 1, f"{job_file} must set model.init"
    for key, value in overrides.items():
        job = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", job)
    job = re.sub(r"(?m)^cycles = .*$", f"rounds = {overrides['rounds']}", job)
    path = tmp / "finetune.toml"
    path.write_text(job)
    command = ["bash", str(ROOT / "scripts/mpirun.sh"), "-n", str(ranks), BINARY, "train", str(path),
               "--output", str(tmp / "runs"), "--rounds", str(overrides["rounds"]), "--threads", "1"]
    return subprocess.run(command, capture_output=True, text=True, timeout=900), path

