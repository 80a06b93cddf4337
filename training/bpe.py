"""Byte-level BPE (GPT-2 / Llama 3 style) trained here, written as a Hugging Face tokenizer.json.

Encoding follows tokenizers' ByteLevel pre-tokenizer (use_regex, no prefix space) and BPE model:
special tokens are split out first, each remaining segment is cut by the GPT-2 regex, mapped
byte → printable symbol, then merged pair by pair in rank order (leftmost first).
"""
from collections import Counter
import heapq

import regex

GPT2_SPLIT = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")

BOS = "<|begin_of_text|>"
EOS = "<|end_of_text|>"
EOT = "<|eot_id|>"
START_HEADER = "<|start_header_id|>"
END_HEADER = "<|end_header_id|>"
SPECIAL_TOKENS = [BOS, EOS, EOT, START_HEADER, END_HEADER]

# Llama 3 style chat template, the same as CHAT_TEMPLATE in scripts/fixtures.ts.
CHAT_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %}"
)


def bytes_to_unicode() -> list[str]:
    """GPT-2's byte → printable character table, indexed by byte."""
    printable = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table = {b: chr(b) for b in printable}
    n = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + n)
            n += 1
    return [table[b] for b in range(256)]


BYTE_SYMBOLS = bytes_to_unicode()
SYMBOL_TO_BYTE = {s: b for b, s in enumerate(BYTE_SYMBOLS)}


def pre_tokenize(text: str) -> list[str]:
    """Regex pieces of `text`, each as byte symbols."""
    return ["".join(BYTE_SYMBOLS[b] for b in piece.encode("utf-8")) for piece in GPT2_SPLIT.findall(text)]


def train_bpe(piece_counts: Counter, num_merges: int) -> list[tuple[str, str]]:
    """The `num_merges` most frequent pair merges over pre-tokenized pieces (ties: smallest pair string).

    Pair counts are updated incrementally; a max-heap with stale entries skipped picks the best pair.
    """
    words = [list(w) for w in piece_counts]
    freqs = [piece_counts[w] for w in piece_counts]
    pair_counts: Counter = Counter()
    where: dict[tuple[str, str], set[int]] = {}
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            pair_counts[p] += freqs[i]
            where.setdefault(p, set()).add(i)
    heap = [(-c, p) for p, c in pair_counts.items()]
    heapq.heapify(heap)
    merges: list[tuple[str, str]] = []
    while len(merges) < num_merges and heap:
        neg, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg or -neg <= 0:
            continue
        merges.append(pair)
        a, b = pair
        joined = a + b
        changed: set[tuple[str, str]] = set()
        for i in sorted(where.pop(pair, ())):
            w, f = words[i], freqs[i]
            for p in zip(w, w[1:]):
                pair_counts[p] -= f
                changed.add(p)
            out, k = [], 0
            while k < len(w):
                if k + 1 < len(w) and w[k] == a and w[k + 1] == b:
                    out.append(joined)
                    k += 2
                else:
                    out.append(w[k])
                    k += 1
            words[i] = out
            for p in zip(out, out[1:]):
                pair_counts[p] += f
                changed.add(p)
                where.setdefault(p, set()).add(i)
        pair_counts.pop(pair, None)
        for p in changed:
            c = pair_counts.get(p, 0)
            if c > 0:
                heapq.heappush(heap, (-c, p))
            else:
                pair_counts.pop(p, None)
    if len(merges) < num_merges:
        raise ValueError(f"only {len(merges)} merges possible from this text, {num_merges} asked")
    return merges


class ByteLevelBPE:
    """Encoder/decoder for a vocabulary of 256 byte symbols + merges, then the special tokens."""

    def __init__(self, merges: list[tuple[str, str]]):
        self.merges = merges
        self.ranks = {p: r for r, p in enumerate(merges)}
        ordered_bytes = sorted(BYTE_SYMBOLS, key=ord)
        self.regular = ordered_bytes + [a + b for a, b in merges]
        if len(set(self.regular)) != len(self.regular):
            raise ValueError("merges produce a duplicate token")
        self.vocab = {t: i for i, t in enumerate(self.regular)}
        self.special_ids = {t: len(self.regular) + k for k, t in enumerate(SPECIAL_TOKENS)}
        self.id_to_token = self.regular + SPECIAL_TOKENS
        self._cache: dict[str, list[int]] = {}
        self._special_split = regex.compile("(" + "|".join(regex.escape(t) for t in SPECIAL_TOKENS) + ")")

    @classmethod
    def from_tokenizer_json(cls, tokenizer: dict) -> "ByteLevelBPE":
        """The tokenizer written by `tokenizer_json` (checked: same vocabulary ids and special tokens)."""
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in tokenizer["model"]["merges"]]
        tok = cls(merges)
        if tokenizer["model"]["vocab"] != tok.vocab or {t["content"]: t["id"] for t in tokenizer["added_tokens"]} != tok.special_ids:
            raise ValueError("tokenizer.json is not a byte-level BPE laid out as this script writes it (256 byte symbols, merges, 5 special tokens)")
        return tok

    @property
    def vocab_size(self) -> int:
        return len(self.id_to_token)

    def _bpe(self, piece: str) -> list[int]:
        hit = self._cache.get(piece)
        if hit is not None:
            return hit
        symbols = list(piece)
        while len(symbols) > 1:
            best, best_rank = -1, None
            for k in range(len(symbols) - 1):
                r = self.ranks.get((symbols[k], symbols[k + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best, best_rank = k, r
            if best < 0:
                break
            symbols[best:best + 2] = [symbols[best] + symbols[best + 1]]
        ids = [self.vocab[s] for s in symbols]
        if len(self._cache) < 500_000:
            self._cache[piece] = ids
        return ids

    def encode(self, text: str) -> list[int]:
        """Ids of `text`; special token strings in it become their ids (like tokenizers' added tokens)."""
        ids: list[int] = []
        for k, segment in enumerate(self._special_split.split(text)):
            if k % 2 == 1:
                ids.append(self.special_ids[segment])
            elif segment:
                for piece in pre_tokenize(segment):
                    ids.extend(self._bpe(piece))
        return ids

    def decode(self, ids: list[int], skip_special: bool = False) -> str:
        out, buf = [], bytearray()
        for i in ids:
            tok = self.id_to_token[i]
            if i >= len(self.regular):
                out.append(buf.decode("utf-8", errors="replace"))
                buf = bytearray()
                if not skip_special:
                    out.append(tok)
            else:
                buf.extend(SYMBOL_TO_BYTE[c] for c in tok)
        out.append(buf.decode("utf-8", errors="replace"))
        return "".join(out)

    def tokenizer_json(self) -> dict:
        added = [
            {"id": self.special_ids[t], "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
            for t in SPECIAL_TOKENS
        ]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": None,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
            "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
            "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
            "model": {
                "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None, "end_of_word_suffix": None,
                "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                "vocab": self.vocab,
                "merges": [f"{a} {b}" for a, b in self.merges],
            },
        }

    def tokenizer_config(self, chat: bool, max_length: int) -> dict:
        eos = EOT if chat else EOS
        cfg = {
            "added_tokens_decoder": {
                str(self.special_ids[t]): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
                for t in SPECIAL_TOKENS
            },
            "bos_token": BOS,
            "clean_up_tokenization_spaces": False,
            "eos_token": eos,
            "model_input_names": ["input_ids", "attention_mask"],
            "model_max_length": max_length,
            "tokenizer_class": "PreTrainedTokenizerFast",
        }
        if chat:
            cfg["chat_template"] = CHAT_TEMPLATE
        return cfg


def render_chat(user_text: str) -> str:
    """CHAT_TEMPLATE for one user message with add_generation_prompt."""
    return f"{BOS}{START_HEADER}user{END_HEADER}\n\n{user_text.strip()}{EOT}{START_HEADER}assistant{END_HEADER}\n\n"
