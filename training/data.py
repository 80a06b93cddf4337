"""Training and evaluation data of the demo: splits, the tokenizer, LM windows, chat (echo) examples."""
from collections import Counter
from pathlib import Path
import hashlib
import random

import torch

import bpe
import corpus

IGNORE = -100
# Chat examples: English sentences of 3–24 words and at most this many tokens (a Chinese eval prompt is ≤ 30 characters).
MAX_MESSAGE_TOKENS = 40


def bucket(text: str) -> int:
    """A stable 0–99 bucket of a text (sha256), for train / held-out splits that do not depend on order."""
    return hashlib.sha256(text.encode("utf-8")).digest()[0] * 100 // 256


def stable_order(texts: list[str], salt: str) -> list[str]:
    return sorted(texts, key=lambda t: hashlib.sha256((salt + t).encode("utf-8")).digest())


def make_splits(nlp_corpus: Path, fortunes: Path, naughty_words: Path) -> dict:
    english = corpus.english_sentences(nlp_corpus, corpus.blocklist(naughty_words / "en.json", whole_words=True))
    chinese = corpus.chinese_entries(fortunes, corpus.blocklist(naughty_words / "zh.json", whole_words=False))
    en = {"pretrain": [], "chat": [], "heldout": []}
    for s in english:
        b = bucket(s)
        en["pretrain" if b < 80 else "chat" if b < 95 else "heldout"].append(s)
    zh_train = [e for e in chinese if bucket(e) < 90]
    zh_heldout = [e for e in chinese if bucket(e) >= 90]
    seen_lines = {line.strip() for e in zh_train for line in e.splitlines()}
    zh_prompts = [p for p in corpus.chinese_prompt_lines(zh_heldout, min_han=6, max_chars=30) if p not in seen_lines]
    return {"en": en, "zh_train": zh_train, "zh_heldout": zh_heldout, "zh_prompts": sorted(set(zh_prompts))}


def train_tokenizer(splits: dict, hp: dict) -> bpe.ByteLevelBPE:
    counts: Counter = Counter()
    for s in splits["en"]["pretrain"][: hp["bpe_english_sentences"]]:
        counts.update(bpe.pre_tokenize(s))
    for e in splits["zh_train"]:
        for piece in bpe.pre_tokenize(e):
            counts[piece] += hp["bpe_chinese_weight"]
    merges = bpe.train_bpe(counts, hp["vocab_size"] - 256 - len(bpe.SPECIAL_TOKENS))
    return bpe.ByteLevelBPE(merges)


# ---------------------------------------------------------------------------------------------
# Training data


def lm_windows(docs: list[list[int]], seq_len: int, seed: int) -> torch.Tensor:
    """Documents (shuffled) packed into one stream and cut into [n, seq_len + 1] windows."""
    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    stream = [t for i in order for t in docs[i]]
    n = (len(stream) - 1) // seq_len
    return torch.tensor([stream[k * seq_len: k * seq_len + seq_len + 1] for k in range(n)], dtype=torch.long)


def english_docs(tok: bpe.ByteLevelBPE, sentences: list[str], per_doc: int = 6) -> list[list[int]]:
    bos, eos = tok.special_ids[bpe.BOS], tok.special_ids[bpe.EOS]
    return [[bos] + tok.encode(" ".join(sentences[k:k + per_doc])) + [eos] for k in range(0, len(sentences), per_doc)]


def chinese_docs(tok: bpe.ByteLevelBPE, entries: list[str]) -> list[list[int]]:
    bos, eos = tok.special_ids[bpe.BOS], tok.special_ids[bpe.EOS]
    return [[bos] + tok.encode(e) + [eos] for e in entries]


def chat_message_ok(tok: bpe.ByteLevelBPE, s: str) -> bool:
    return 3 <= len(s.split()) <= 24 and len(tok.encode(s)) <= MAX_MESSAGE_TOKENS


def chat_example(tok: bpe.ByteLevelBPE, message: str) -> tuple[list[int], list[int]]:
    """(ids, labels) for one echo exchange; the loss is on the answer and its <|eot_id|> only.

    The prompt is encoded on its own, as the studio encodes a rendered prompt ending in the
    assistant header, so training sees the same ids as generation.
    """
    prompt = tok.encode(bpe.render_chat(message))
    answer = tok.encode(message.strip()) + [tok.special_ids[bpe.EOT]]
    return prompt + answer, [IGNORE] * len(prompt) + answer


def chat_batches(examples: list[tuple[list[int], list[int]]], batch: int, steps: int, pad_id: int, seed: int):
    rng = random.Random(seed)
    order: list[int] = []
    for _ in range(steps):
        if len(order) < batch:
            more = list(range(len(examples)))
            rng.shuffle(more)
            order += more
        take, order = order[:batch], order[batch:]
        width = max(len(examples[i][0]) for i in take)
        ids = torch.full((batch, width), pad_id, dtype=torch.long)
        labels = torch.full((batch, width), IGNORE, dtype=torch.long)
        for r, i in enumerate(take):
            x, y = examples[i]
            ids[r, :len(x)] = torch.tensor(x)
            labels[r, :len(y)] = torch.tensor(y)
        # Position k predicts token k + 1.
        yield [(ids[:, :-1], labels[:, 1:])]


def lm_batches(windows: torch.Tensor, batch: int, steps: int, seed: int):
    g = torch.Generator().manual_seed(seed)
    order = torch.empty(0, dtype=torch.long)
    for _ in range(steps):
        if len(order) < batch:
            order = torch.cat([order, torch.randperm(len(windows), generator=g)])
        take, order = order[:batch], order[batch:]
        w = windows[take]
        yield [(w[:, :-1], w[:, 1:])]


def mixed_batches(*streams):
    """One step from each stream per step, their parts together (chat examples + replayed pretraining windows)."""
    for steps in zip(*streams):
        yield [part for step in steps for part in step]
