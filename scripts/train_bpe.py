#!/usr/bin/env python3
"""Trains a GPT-2-style byte-level BPE vocabulary with Hugging Face `tokenizers`.

Writes vocab.json and merges.txt (GPT-2's file formats) into OUT, for `data.vocab` /
`data.merges` in a job, or for `fedcybgd tokenize`. The pre-tokenizer is GPT-2's (ByteLevel,
no prefix space), the initial alphabet all 256 byte characters, and `<|endoftext|>` the one
special token, so the files work exactly like GPT-2's own.

    python3 scripts/train_bpe.py /usr/share/games/fortunes runs/bpe-2k --vocab-size 2000
"""
import argparse
import os
import pathlib
import sys

END_OF_TEXT = "<|endoftext|>"


def corpus_texts(path: pathlib.Path, max_bytes: int | None):
    """The text files of a file or folder, as fedcybgd reads them: hidden and binary files skipped."""
    files = [path] if path.is_file() else sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    taken = 0
    for file in files:
        data = file.read_bytes()
        if not data or b"\0" in data[:8192]:
            continue
        if max_bytes is not None:
            data = data[: max(0, max_bytes - taken)]
        taken += len(data)
        yield data.decode("utf-8", errors="replace")
        if max_bytes is not None and taken >= max_bytes:
            return


def train(texts, vocab_size: int, out: pathlib.Path):
    """Trains on `texts` and writes vocab.json and merges.txt into `out`; returns the Tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[END_OF_TEXT], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(texts, trainer)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.model.save(str(out))
    return tokenizer


def reference(vocab: str, merges: str):
    """GPT-2's tokenizer built from the two files, as GPT2TokenizerFast builds it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    tokenizer = Tokenizer(models.BPE.from_file(vocab, merges))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([END_OF_TEXT])
    return tokenizer


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=pathlib.Path, help="a text file or a folder of text files")
    parser.add_argument("out", type=pathlib.Path, help="folder for vocab.json and merges.txt")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--max-bytes", type=int, default=None, help="train on at most this many bytes of the corpus")
    args = parser.parse_args()
    if not args.corpus.exists():
        sys.exit(f"train_bpe: {args.corpus} does not exist; give a text file or a folder of text files")
    train(corpus_texts(args.corpus, args.max_bytes), args.vocab_size, args.out)
    print(f"wrote {os.path.join(args.out, 'vocab.json')} and merges.txt ({args.vocab_size} tokens)")


if __name__ == "__main__":
    main()
