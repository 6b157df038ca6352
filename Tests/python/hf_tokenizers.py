"""Helpers for the tokenizer.json tests: seeded varied text, and small BPE tokenizers of each
style real models ship (GPT-2, SmolLM, Llama 3, Llama 2 / TinyLlama), trained and assembled
with Hugging Face `tokenizers` itself."""
import json
import random

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = LLAMA3_PATTERN.replace(r"\p{N}{1,3}", r"\p{N}")

WORDS = ("the of and to in is you that it he was for on are as with his they at be this have from or one had by word "
         "but not what all were we when your can said there use an each which she do how their if will up other about "
         "out many then them these so some her would make like him into time has look two more write go see number no "
         "way could people my than first water been call who oil its now find long down day did get come made may part "
         "Hello World THE Internet München naïve café résumé coöperate Straße façade").split()
CONTRACTIONS = ["it's", "I'm", "we'll", "they've", "she'd", "you're", "don't", "IT'S", "WE'LL", "They'Re", "o'clock",
                "rock'n'roll", "''s", "'", "x'ſ", "'S", "'tis", "'Ll", "can'T"]
SCRIPTS = ["日本語のテキスト", "中文字符测试", "한국어 문장", "русский текст", "ελληνικά", "עברית", "العربية", "हिन्दी",
           "ไทย", "ქართული", "Ελλάδα", "漢字かなカナ", "ｆｕｌｌｗｉｄｔｈ", "ǅemal", "ʰʲ", "々〆"]
COMBINING = ["e\u0301", "a\u0300\u0316", "n\u0303", "o\u0308\u0304", "\u0301", "Z\u0351\u0352\u0353", "\u1e9b\u0323",
             "क\u094d\u0937", "\u05e9\u05c1", "\u0627\u064b"]
WHITESPACE = [" ", "  ", "   ", "\t", "\t\t", " \t ", "\n", "\n\n", "\r\n", " \n ", "\n\t", "\u00a0", "\u3000", "\u2028",
              "\u2029", "\u0085", "\u1680", "\u202f", "\x0b", "\x0c", "\r", "    \n    "]
DIGITS = ["0", "7", "12", "123", "1234", "12345", "3.14159", "1,000,000", "2024-01-01", "0x1F", "007", "٣٤٥", "²³",
          "½", "Ⅻ", "१२३", "９９"]
EMOJI = ["👍", "👍🏽", "👨\u200d👩\u200d👧", "🏳️\u200d🌈", "🇫🇷", "❤️", "☃", "🤖", "👩🏾\u200d💻", "\u200b", "\ufeff",
         "©", "™", "∑∫", "→"]
CODE = ["def f(x):\n\treturn x**2  # square", "if (a && b) { c++; }", "<div class=\"x\">", "{\"key\": [1, 2]}",
        "for i in range(10):", "#include <stdio.h>", "x = y->z;", "SELECT * FROM t WHERE id=1;", "$HOME/.bashrc",
        "fn main() -> i32 { 0 }", "a_b_c", "camelCaseName", "__init__", "\\n\\t", "/* c */", "<<=", "!==", "::"]
SPECIAL = ["<s>", "</s>", "<unk>", "<|endoftext|>", "<|begin_of_text|>", "<|end_of_text|>", "<s", "</", "<0x41>",
           "▁", "▁▁x", "<<s>>", "</s></s>"]
PUNCT = ["!!!", "...", "—", "«»", "$%^&*", "@user", "#tag", "\"quoted\"", "(x)", "?!", "~", "\\", "\x7f", "\x1c",
         "\x1f"]
CATEGORIES = [WORDS, WORDS, WORDS, CONTRACTIONS, SCRIPTS, COMBINING, WHITESPACE, WHITESPACE, DIGITS, EMOJI, CODE, SPECIAL,
              PUNCT]


def rare_character(rng: random.Random) -> str:
    """A character from anywhere in Unicode (no surrogates), for byte fallback and unknowns."""
    while True:
        code = rng.choice([rng.randrange(0x80, 0x3000), rng.randrange(0x3000, 0xD800), rng.randrange(0xE000, 0x10000),
                           rng.randrange(0x10000, 0x30000)])
        if not 0xD800 <= code < 0xE000:
            return chr(code)


def varied_lines(count: int, seed: int) -> list[str]:
    """`count` lines mixing every category above, joined by random whitespace or nothing; some
    lines are empty, start or end with spaces, or hold rare characters."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        pieces = []
        for _ in range(rng.randint(0, 14)):
            roll = rng.random()
            piece = rare_character(rng) if roll < 0.04 else rng.choice(rng.choice(CATEGORIES))
            pieces.append(piece)
            pieces.append(rng.choice(["", " ", " ", " ", "  ", "\t", "\n"]))
        line = "".join(pieces)
        if rng.random() < 0.1:
            line = " " + line
        if rng.random() < 0.1:
            line = line + "  "
        lines.append(line)
    return lines


def training_text(seed: int = 1) -> list[str]:
    return varied_lines(4000, seed)


def byte_level(pre_tokenizer, vocab_size=1500, special=("<|endoftext|>",), ignore_merges=False) -> Tokenizer:
    """A byte-level BPE trained with `pre_tokenizer` (which ends in ByteLevel), ByteLevel decoder."""
    tokenizer = Tokenizer(models.BPE(ignore_merges=ignore_merges))
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(special), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(training_text(), trainer)
    return tokenizer


def gpt2_style() -> Tokenizer:
    tokenizer = byte_level(pre_tokenizers.ByteLevel(add_prefix_space=False))
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    return tokenizer


def smollm_style() -> Tokenizer:
    """SmolLM's (StarCoder's) layout: digits one by one, then GPT-2's byte-level split."""
    return byte_level(pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                               pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
                      special=("<|endoftext|>", "<|im_start|>", "<|im_end|>"))


def llama3_style() -> Tokenizer:
    """Llama 3's layout: its Split regex, ByteLevel without regex, ignore_merges, and
    <|begin_of_text|> prepended by the post-processor."""
    tokenizer = byte_level(pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False)]),
        special=("<|begin_of_text|>", "<|end_of_text|>"), ignore_merges=True)
    bos = tokenizer.token_to_id("<|begin_of_text|>")
    tokenizer.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    return tokenizer


def with_unreachable_words(tokenizer: Tokenizer, lines: list[str], count: int = 40) -> Tokenizer:
    """Adds to the vocabulary (not as added tokens) frequent pre-tokens that the merges split
    into several tokens, so `ignore_merges` decides their ids."""
    spec = json.loads(tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    counts = {}
    for line in lines:
        for piece, _ in tokenizer.pre_tokenizer.pre_tokenize_str(line):
            if piece not in vocab and len(tokenizer.encode(piece, add_special_tokens=False).ids) > 1:
                counts[piece] = counts.get(piece, 0) + 1
    next_id = max(max(vocab.values()), max(t["id"] for t in spec["added_tokens"])) + 1
    for piece, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:count]:
        vocab[piece] = next_id
        next_id += 1
    return Tokenizer.from_str(json.dumps(spec))


def sentencepiece_style(vocab_size=1200) -> Tokenizer:
    """Llama 2 / TinyLlama's layout: `▁` for spaces by normalizer, no pre-tokenizer, byte
    fallback through the 256 `<0xXX>` vocabulary tokens, <unk> <s> </s>, and <s> prepended."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                           decoders.Strip(" ", 1, 0)])
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"] + byte_tokens,
                                  limit_alphabet=120, show_progress=False)
    tokenizer.train_from_iterator(training_text(), trainer)
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                             special_tokens=[("<s>", 1)])
    # As in Llama 2's file, the byte tokens are vocabulary entries, not added tokens.
    spec = json.loads(tokenizer.to_str())
    spec["added_tokens"] = [t for t in spec["added_tokens"] if t["content"] not in byte_tokens]
    return Tokenizer.from_str(json.dumps(spec))


def edited(tokenizer: Tokenizer, **changes) -> Tokenizer:
    """The tokenizer with top-level tokenizer.json entries replaced (as dicts)."""
    spec = json.loads(tokenizer.to_str())
    spec.update(changes)
    return Tokenizer.from_str(json.dumps(spec))


def metaspace_style(base: Tokenizer, prepend_scheme: str, split: bool) -> Tokenizer:
    """Newer Llama 2 conversions: no normalizer, a Metaspace pre-tokenizer instead."""
    tokenizer = Tokenizer.from_str(base.to_str())
    tokenizer.normalizer = None
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme=prepend_scheme, split=split)
    if split:
        tokenizer.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁",
                                                                                          prepend_scheme=prepend_scheme)])
    return tokenizer
