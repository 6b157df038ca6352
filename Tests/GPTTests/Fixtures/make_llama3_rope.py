"""Writes llama_rope.json: Hugging Face transformers' rotary inverse frequencies and cos/sin tables.

Run from the repository root: python3 Tests/GPTTests/Fixtures/make_llama3_rope.py
The Swift test (LlamaKernelTests) compares RotaryTable against these values. Each case builds a
LlamaConfig and takes inv_freq and the cos/sin of LlamaRotaryEmbedding, so both the default RoPE
and rope_type "llama3" (transformers' _compute_llama3_parameters) come from transformers itself.
"""
import json
import os

import torch
import transformers
from transformers import LlamaConfig
from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

CASES = [
    dict(name="default", head_dim=16, theta=10000.0, scaling=None, positions=[0, 1, 5, 31, 1000, 4095]),
    # Llama 3.1's own settings: the high-, medium- and low-frequency regions all occur at head_dim 64.
    dict(name="llama3.1", head_dim=64, theta=500000.0,
         scaling=dict(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192),
         positions=[0, 1, 100, 8191, 50000, 131071]),
    dict(name="llama3-small", head_dim=16, theta=10000.0,
         scaling=dict(factor=32.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=64),
         positions=[0, 3, 63, 64, 2047]),
]


def run(case):
    rope = dict(rope_type="default", rope_theta=case["theta"])
    if case["scaling"]:
        rope.update(rope_type="llama3", **case["scaling"])
    config = LlamaConfig(hidden_size=case["head_dim"] * 2, num_attention_heads=2, head_dim=case["head_dim"],
                         max_position_embeddings=max(case["positions"]) + 1, rope_parameters=rope)
    embedding = LlamaRotaryEmbedding(config)
    positions = torch.tensor([case["positions"]])
    cos, sin = embedding(torch.zeros(1, dtype=torch.float32), positions)
    half = case["head_dim"] // 2
    floats = lambda t: [float(v) for v in t.tolist()]
    return dict(case, inv_freq=floats(embedding.inv_freq),
                cos=[floats(row[:half]) for row in cos[0]], sin=[floats(row[:half]) for row in sin[0]])


if __name__ == "__main__":
    fixture = dict(made_with=f"transformers {transformers.__version__}, torch {torch.__version__}",
                   cases=[run(c) for c in CASES])
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "llama_rope.json")
    with open(path, "w") as f:
        json.dump(fixture, f, indent=1)
        f.write("\n")
    print("wrote", path)
