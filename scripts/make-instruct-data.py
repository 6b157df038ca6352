#!/usr/bin/env python3
"""Builds an instruction data set (JSONL, one record per line, a `task` field per source) from
Debian's dictd dictionaries under /usr/share/dictd and the question/answer fortunes in
/usr/share/games/fortunes/riddles (docs/DATA.md lists the sources, sizes and licences).

Each source is one task family, so clients split by task are non-IID. Records are Alpaca-style
(`instruction`, `output`), except riddles, which are chat-style (`messages`). The output is
deterministic: candidates are read in index order, then a seeded sample of at most --per-task
records is kept per task. Answers are cleaned: the first sense or sentence only, cross-reference
braces and tags removed, whitespace normalised, and at most --max-answer characters.

    python3 scripts/make-instruct-data.py --out data/instruct/instruct.jsonl
"""
import argparse
import gzip
import json
import os
import random
import re
import sys

DICTD = "/usr/share/dictd"
RIDDLES = "/usr/share/games/fortunes/riddles"
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def b64_number(text):
    """dictd's .index numbers: base64 digits, most significant first."""
    value = 0
    for char in text:
        value = value * 64 + BASE64.index(char)
    return value


def dictd_entries(name):
    """(headword, entry text) for each .index line, in index order; dictd's own entries skipped."""
    index = os.path.join(DICTD, name + ".index")
    with gzip.open(os.path.join(DICTD, name + ".dict.dz")) as f:  # dictzip is gzip-compatible
        data = f.read()
    with open(index, encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[0].startswith(("00database", "00-database")):
                continue
            start, length = b64_number(parts[1]), b64_number(parts[2])
            yield parts[0], data[start:start + length].decode("utf-8", "replace")


def squash(text):
    """Whitespace normalised to single spaces."""
    return re.sub(r"\s+", " ", text).strip()


def unbrace(text):
    """Cross references `{word}` become `word`."""
    return text.replace("{", "").replace("}", "")


def first_sentence(text):
    """Up to the first sentence end (a full stop, ! or ? before a space and a capital), or `;`."""
    text = text.split(";")[0]
    match = re.search(r"[.!?](?=\s+[A-Z(])", text)
    return (text[:match.end()] if match else text).strip()


def definition(text):
    """A cleaned first sentence of a definition: a leading pronunciation (/.../), bracketed
    etymology, sense number and part of speech removed; None when nothing definitional is
    left (a bare "See ..." reference, a web address, or a fragment)."""
    text = squash(unbrace(text))
    while True:
        stripped = re.sub(r"^(?:<[^>]*>|/[^/]*/|\[[^\]]*\]|\d+\.|(?:n|v|vt|vi|adj|adv|interj|pl)\.|\((?:[A-Z][a-z]*\.?\s*)+\))\s*", "", text)
        if stripped == text:
            break
        text = stripped
    sentence = first_sentence(text)
    # Usage notes ([Obs.], [R.]), quoted authors (--Chaucer) and a quotation cut off mid-way go.
    sentence = re.sub(r"\s*\[[^\]]*\]|\s+--.*$", "", sentence)
    if sentence.count("[") > sentence.count("]"):
        sentence = sentence[:sentence.rfind("[")]
    sentence = re.sub(r"\s*[“\"(][^”\")]*$|\s+\d+\.$", "", sentence).strip()
    if len(sentence) < 3 or sentence.startswith(("See ", "see ", "[", "(")) or "http" in sentence or "ftp:" in sentence:
        return None
    return sentence


def plain_word(head):
    return re.fullmatch(r"[A-Za-z][a-z]+(?:[- ][a-z]+)?", head) is not None


def wordnet():
    """WordNet 3.0: the first sense's gloss, examples dropped."""
    for head, entry in dictd_entries("wn"):
        lines = entry.split("\n")[1:]
        sense = []
        for line in lines:
            if re.match(r"\s+(?:(?:n|v|adj|adv)\s+)?2:", line) and sense:
                break
            sense.append(line)
        text = squash(" ".join(sense))
        text = re.sub(r"^(?:n|v|adj|adv)\s+(?:1:\s*)?", "", text)
        text = text.split("[syn:")[0].split("[ant:")[0]
        gloss = text.split('; "')[0].split(";")[0].strip()
        if plain_word(head) and " " not in head and len(gloss) >= 3:
            yield f'Define the word "{head}".', gloss


def webster():
    """GCIDE (Webster 1913 and later): the main entry's first definition, first sentence."""
    for head, entry in dictd_entries("gcide"):
        lines = entry.strip("\n").split("\n")
        if not lines or not lines[0].lower().startswith(head.lower() + " \\"):
            continue
        rest = "\n".join(lines[1:])
        depth = lines[0].count("[") - lines[0].count("]")
        while depth > 0 and rest:  # the etymology continues past the header line
            close = rest.find("]")
            if close < 0:
                rest = ""
                break
            depth += rest[:close].count("[") - 1
            rest = rest[close + 1:]
        body = re.split(r"\n\s*\n|\[1913 Webster\]|\[WordNet|\[PJC\]|\n\s*Syn:", rest)[0]
        body = re.sub(r"^\s*(?:1\.\s*)?(?:\((?:[A-Z][a-z]*\.?\s*)+\)\s*)*", "", body)
        answer = definition(body)
        if plain_word(head) and " " not in head and answer and answer[0].isupper():
            yield f'What did "{head}" mean in Webster\'s 1913 dictionary?', answer


def translations(name, language):
    """FreeDict English–X: the first translation of the headword."""
    for _, entry in dictd_entries(name):
        lines = entry.strip("\n").split("\n")
        if len(lines) < 2:
            continue
        head = lines[0].split(" /")[0].strip()
        first = re.sub(r"<[^>]*>|\[[^\]]*\]|\([^)]*\)", "", lines[1]).split(",")[0].split(";")[0]
        first = re.sub(r"^\s*\d+\.\s*", "", squash(first))
        if plain_word(head) and first and "." not in first and not re.search(r"\bsth\b|\bsb\b", head):
            kind = "phrase" if " " in head else "word"
            yield f'Translate the English {kind} "{head}" into {language}.', first


def acronyms():
    """V.E.R.A.: what a computing acronym stands for (the domain in brackets dropped)."""
    for _, entry in dictd_entries("vera"):
        lines = [line for line in entry.split("\n") if line.strip()]
        if len(lines) < 2:
            continue
        acronym = lines[0].strip()
        expansion = squash(re.sub(r"\([^)]*\)\s*$", "", lines[1].strip()))
        if re.fullmatch(r"[A-Z0-9][A-Z0-9&/-]{1,9}", acronym) and expansion:
            yield f'What does the acronym "{acronym}" stand for?', expansion


def first_paragraph(entry):
    """The first paragraph after the header lines (head, pronunciation, part of speech)."""
    parts = re.split(r"\n\s*\n", entry.strip("\n"), maxsplit=1)
    return parts[1] if len(parts) > 1 else ""


def jargon():
    """The Jargon File: the first sentence of a term's explanation."""
    for head, entry in dictd_entries("jargon"):
        answer = definition(first_paragraph(entry))
        term = entry.strip("\n").split("\n")[0].strip()
        if term and answer:
            yield f'What does the hacker jargon term "{term}" mean?', answer


def foldoc():
    """FOLDOC: the first sentence of a computing term's definition (category tag dropped)."""
    for _, entry in dictd_entries("foldoc"):
        paragraph = first_paragraph(entry)
        term = entry.strip("\n").split("\n")[0].strip()
        text = squash(re.sub(r"^\s*<[^>]*>\s*", "", paragraph))
        if re.fullmatch(r"\{[^{}]*\}", text):  # a bare cross reference: no definition here
            continue
        answer = definition(re.sub(r"^\([^)]*\)\s*", "", text))
        if term and answer:
            yield f'In computing, what is "{term}"?', answer


def element_facts():
    """The periodic table: (name, symbol, atomic number) of each element."""
    for head, entry in dictd_entries("elements"):
        symbol = re.search(r"Symbol:\s*(\S+)", entry)
        number = re.search(r"Atomic number:\s*(\d+)", entry)
        if symbol and number and head.isalpha():
            yield head, symbol.group(1), number.group(1)


def element_symbols():
    for name, symbol, _ in element_facts():
        yield f"What is the chemical symbol of {name}?", symbol


def element_numbers():
    for name, _, number in element_facts():
        yield f"What is the atomic number of {name}?", number


def riddles():
    """fortune's riddles: each Q:/A: pair (question first) as one chat exchange."""
    with open(RIDDLES, encoding="utf-8", errors="replace") as f:
        cookies = f.read().split("\n%\n")
    for cookie in cookies:
        match = re.fullmatch(r"\s*Q:\s*(.+?)\n\s*A:\s*(.+?)\s*", cookie, re.S)
        if match and "Q:" not in match.group(2):
            yield squash(match.group(1)), squash(match.group(2))


# task name -> (records generator, chat style)
TASKS = {
    "define": (wordnet, False),
    "define-webster": (webster, False),
    "translate-de": (lambda: translations("freedict-eng-deu", "German"), False),
    "translate-fr": (lambda: translations("freedict-eng-fra", "French"), False),
    "translate-es": (lambda: translations("freedict-eng-spa", "Spanish"), False),
    "acronym": (acronyms, False),
    "jargon": (jargon, False),
    "computing": (foldoc, False),
    "element-symbol": (element_symbols, False),
    "element-number": (element_numbers, False),
    "riddle": (riddles, True),
}


def build(per_task, max_answer, seed):
    """Every task's records, in task order, each task a seeded sample in index order."""
    records, sizes = [], {}
    for task, (source, chat) in TASKS.items():
        seen, candidates = set(), []
        for question, answer in source():
            if 0 < len(answer) <= max_answer and question not in seen:
                seen.add(question)
                candidates.append((question, answer))
        rng = random.Random(f"{seed}-{task}")
        chosen = sorted(rng.sample(range(len(candidates)), min(per_task, len(candidates))))
        sizes[task] = (len(candidates), len(chosen))
        for i in chosen:
            question, answer = candidates[i]
            if chat:
                records.append({"task": task, "messages": [{"role": "user", "content": question},
                                                           {"role": "assistant", "content": answer}]})
            else:
                records.append({"task": task, "instruction": question, "output": answer})
    return records, sizes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="data/instruct/instruct.jsonl")
    parser.add_argument("--per-task", type=int, default=2000, help="at most this many records per task")
    parser.add_argument("--max-answer", type=int, default=120, help="longest answer kept, in characters")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    missing = [name for name in ("wn", "gcide", "freedict-eng-deu", "freedict-eng-fra", "freedict-eng-spa",
                                 "vera", "jargon", "foldoc", "elements")
               if not os.path.exists(os.path.join(DICTD, name + ".index"))]
    if missing or not os.path.exists(RIDDLES):
        sys.exit(f"make-instruct-data: missing {', '.join(missing) or RIDDLES} — run scripts/setup.sh "
                 "(it installs the dict-* and fortunes packages)")
    records, sizes = build(args.per_task, args.max_answer, args.seed)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    temporary = args.out + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(temporary, args.out)
    for task, (candidates, kept) in sizes.items():
        print(f"{task:16s} {kept:6d} records of {candidates:6d} candidates")
    print(f"wrote {len(records)} records to {args.out}")


if __name__ == "__main__":
    main()
