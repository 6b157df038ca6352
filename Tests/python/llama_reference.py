"""Writes Llama reference folders (random or briefly trained) with Hugging Face transformers, in the layout of
shared/fixtures/llama-tiny: config.json, model.safetensors and expected.safetensors (input_ids,
targets, logits, loss, grad.<name>, adamw_losses after each of 3 AdamW steps on the same batch)."""
import pathlib

import torch
from safetensors.torch import save_file
from transformers import LlamaConfig, LlamaForCausalLM


def make_folder(folder: pathlib.Path, seed: int, batch: int = 2, sequence: int = 16, **config) -> None:
    torch.manual_seed(seed)
    cfg = LlamaConfig(attention_dropout=0.0, **config)
    model = LlamaForCausalLM(cfg).float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.2 * torch.randn_like(p))  # norms away from 1, so their gradients are tested
            else:
                p.normal_(0.0, 0.2)
    model.train()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    ids = torch.randint(0, cfg.vocab_size, (batch, sequence))
    targets = torch.randint(0, cfg.vocab_size, (batch, sequence))
    write_expected(model, folder, ids, targets)


def make_pretrained_folder(folder: pathlib.Path, seed: int, steps: int = 60, batch: int = 4, sequence: int = 64,
                           **config) -> None:
    """A reference folder for a model trained `steps` AdamW steps (from transformers' own initialisation) on a
    Markov chain of four successors per token, so its predictions are peaked as a pretrained model's are;
    the reference batch is drawn from the same chain."""
    torch.manual_seed(seed)
    cfg = LlamaConfig(attention_dropout=0.0, **config)
    model = LlamaForCausalLM(cfg).float()
    successors = torch.randint(0, cfg.vocab_size, (cfg.vocab_size, 4))

    def chain(rows: int) -> tuple[torch.Tensor, torch.Tensor]:
        tokens = [torch.randint(0, cfg.vocab_size, (rows,))]
        for _ in range(sequence):
            tokens.append(successors[tokens[-1], torch.randint(0, 4, (rows,))])
        walk = torch.stack(tokens, dim=1)
        return walk[:, :-1].contiguous(), walk[:, 1:].contiguous()

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        ids, targets = chain(16)
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(input_ids=ids).logits.reshape(-1, cfg.vocab_size), targets.reshape(-1)).backward()
        optimizer.step()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    write_expected(model, folder, *chain(batch))


def write_expected(model: LlamaForCausalLM, folder: pathlib.Path, ids: torch.Tensor, targets: torch.Tensor) -> None:
    """expected.safetensors for `model` (already saved in `folder`) on the batch (ids, targets)."""
    cfg = model.config
    model.zero_grad()
    out = model(input_ids=ids)
    logits = out.logits
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, cfg.vocab_size), targets.reshape(-1))
    loss.backward()
    expected = {
        "input_ids": ids.to(torch.int32), "targets": targets.to(torch.int32),
        "logits": logits.detach().contiguous(), "loss": loss.detach().reshape(1),
    }
    for name, p in model.named_parameters():
        expected["grad." + name] = p.grad.detach().clone().contiguous()
    if cfg.tie_word_embeddings:
        expected["grad.lm_head.weight"] = expected["grad.model.embed_tokens.weight"].clone()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
    losses = []
    for _ in range(3):
        optimizer.zero_grad()
        step_logits = model(input_ids=ids).logits
        torch.nn.functional.cross_entropy(step_logits.reshape(-1, cfg.vocab_size), targets.reshape(-1)).backward()
        optimizer.step()
        with torch.no_grad():
            after = model(input_ids=ids).logits
            losses.append(torch.nn.functional.cross_entropy(after.reshape(-1, cfg.vocab_size), targets.reshape(-1)).item())
    expected["adamw_losses"] = torch.tensor(losses, dtype=torch.float32)
    save_file(expected, str(folder / "expected.safetensors"))
