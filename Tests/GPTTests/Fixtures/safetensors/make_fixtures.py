"""Regenerates the half-precision and sharded safetensors fixtures in this folder.

Run from anywhere: python3 Tests/GPTTests/Fixtures/safetensors/make_fixtures.py
Needs torch, safetensors and transformers. The Swift tests compare the program's fp32 values
with torch's `.float()` of the same tensors, stored here as F32 by safetensors.
"""
import json
import pathlib
import shutil

import torch
from safetensors.torch import save_file

HERE = pathlib.Path(__file__).resolve().parent


def from_bits(bits, dtype):
    """A 16-bit float tensor whose raw bit patterns are `bits` (ints in 0..65535)."""
    signed = [b - 65536 if b >= 32768 else b for b in bits]
    return torch.tensor(signed, dtype=torch.int16).view(dtype)


def half_values(dtype, exponent_bits, generator):
    """Random bit patterns of every class plus explicit edge cases, as a [10, 31] tensor
    (an odd row length so that no loop tail is a multiple of a vector width)."""
    mantissa_bits = 15 - exponent_bits
    special = [
        0x0000, 0x8000,                                    # +-0
        0x0001, 0x8001,                                    # smallest subnormals
        (1 << mantissa_bits) - 1,                          # largest subnormal
        1 << mantissa_bits,                                # smallest normal
        0x7FFF ^ (1 << mantissa_bits),                     # largest finite
        0x7FFF & ~((1 << mantissa_bits) - 1),              # +inf
        0xFFFF & ~((1 << mantissa_bits) - 1),              # -inf
        0x7FFF & ~((1 << mantissa_bits) - 1) | 1,          # signalling NaN
        0xFFFF & ~((1 << mantissa_bits) - 1) | 0x55,       # negative NaN with a payload
        0x7FFF,                                            # quiet NaN, all payload bits
    ]
    random_bits = torch.randint(0, 65536, (150,), generator=generator).tolist()
    subnormal_bits = torch.randint(0, 1 << mantissa_bits, (60,), generator=generator).tolist()
    subnormal_bits = [b | (0x8000 if i % 2 else 0) for i, b in enumerate(subnormal_bits)]
    bits = special + random_bits + subnormal_bits
    values = torch.cat([from_bits(bits, dtype),
                        (torch.randn(310 - len(bits), generator=generator) * 3).to(dtype)])
    return values.reshape(10, 31)


def dtype_fixture():
    generator = torch.Generator().manual_seed(13)
    tensors = {
        "f16": half_values(torch.float16, 5, generator),
        "bf16": half_values(torch.bfloat16, 8, generator),
        "f32": torch.randn(3, 5, generator=generator),
        "f16_scalar": torch.tensor(-2.5, dtype=torch.float16),
        "bf16_empty": torch.zeros(0, 4, dtype=torch.bfloat16),
        "i32": torch.tensor([0, -1, 7, 2**31 - 1, -(2**31)], dtype=torch.int32),
        "i64": torch.tensor([0, -1, 7, 2**40 + 3, -(2**62)], dtype=torch.int64),
        "f64": torch.tensor([1.0, 2.0], dtype=torch.float64),
    }
    save_file(tensors, str(HERE / "dtypes.safetensors"))
    expected = {name: t.float().contiguous() for name, t in tensors.items()
                if t.dtype in (torch.float16, torch.bfloat16, torch.float32)}
    save_file(expected, str(HERE / "dtypes-expected.safetensors"))


def sharded_fixture():
    from transformers import GPT2Config, GPT2LMHeadModel
    torch.manual_seed(13)
    config = GPT2Config(vocab_size=64, n_positions=8, n_embd=8, n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(config).to(torch.bfloat16)
    folder = HERE / "gpt2-bf16-sharded"
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(str(folder), max_shard_size="2KB")
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1, "expected several shards"
    state = {name: t.float().contiguous() for name, t in model.state_dict().items()
             if name in index["weight_map"]}
    save_file(state, str(HERE / "gpt2-bf16-expected.safetensors"))


if __name__ == "__main__":
    dtype_fixture()
    sharded_fixture()
