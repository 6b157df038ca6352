"""`fedcybgd verify-reference` on Llama folders made here by transformers: head groupings, tied and
untied heads, head_dim, rope_theta, Llama 3 rope scaling and rms_norm_eps other than the fixture's."""
import os
import re
import subprocess

import pytest
from safetensors.torch import load_file, save_file

from conftest import BINARY
from llama_reference import make_folder, make_pretrained_folder

VARIANTS = {
    # multi-query attention (one key/value head), tied head, a large rope_theta
    "mqa-tied": dict(vocab_size=97, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=32,
                     tie_word_embeddings=True, rope_theta=500000.0, rms_norm_eps=1e-6),
    # as many key/value heads as query heads, head_dim wider than hidden / heads, rms_norm_eps 1e-4
    "mha-headdim": dict(vocab_size=64, hidden_size=24, intermediate_size=56, num_hidden_layers=3,
                        num_attention_heads=3, num_key_value_heads=3, head_dim=10, max_position_embeddings=24,
                        tie_word_embeddings=False, rope_theta=1000.0, rms_norm_eps=1e-4),
    # Llama 3's rope scaling, 8 query heads over 2 key/value heads
    "llama3-rope": dict(vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                        num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=64,
                        tie_word_embeddings=True, rms_norm_eps=1e-5,
                        rope_parameters=dict(rope_type="llama3", rope_theta=500000.0, factor=8.0,
                                             low_freq_factor=1.0, high_freq_factor=4.0,
                                             original_max_position_embeddings=8)),
}


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_verify_reference_passes_on_transformers_folders(tmp_path, name):
    folder = tmp_path / name
    make_folder(folder, seed=len(name), **VARIANTS[name])
    result = subprocess.run([BINARY, "verify-reference", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED" in result.stdout + result.stderr


def test_verify_reference_fails_on_a_wrong_gradient(tmp_path):
    folder = tmp_path / "wrong"
    make_folder(folder, seed=3, **VARIANTS["mqa-tied"])
    expected = load_file(str(folder / "expected.safetensors"))
    expected["grad.model.layers.1.self_attn.k_proj.weight"][0, 0] += 0.05
    save_file(expected, str(folder / "expected.safetensors"))
    result = subprocess.run([BINARY, "verify-reference", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    failing = [line for line in (result.stdout + result.stderr).splitlines() if line.rstrip().endswith("FAIL")]
    assert len(failing) == 1 and "k_proj" in failing[0], result.stdout + result.stderr


def test_trained_grouped_query_llama_stays_within_rounding_of_transformers_on_every_kernel_path(tmp_path):
    """A trained 5 x 64 Llama (vocabulary 512, 4 query heads over 2 key/value heads): on every kernel path the
    three AdamW losses stay within 1e-6 of transformers' (every path measured <= 4e-7, docs/TESTING.md), ten
    times tighter than verify-reference's 1e-5, so a path that rounds worse fails here first."""
    folder = tmp_path / "trained"
    make_pretrained_folder(folder, seed=5, vocab_size=512, hidden_size=64, intermediate_size=172, num_hidden_layers=5,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    for path in ("baseline", "avx2", "avx512"):
        result = subprocess.run([BINARY, "verify-reference", str(folder)], capture_output=True, text=True, timeout=120,
                                env={**os.environ, "FEDCYBGD_KERNELS": path})
        assert result.returncode == 0, result.stdout + result.stderr
        adamw = re.search(r"^  adamw_losses +(\S+)", result.stdout + result.stderr, re.MULTILINE)
        assert adamw and float(adamw.group(1)) <= 1e-6, f"{path}: " + result.stdout + result.stderr
