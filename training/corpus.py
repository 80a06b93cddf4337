"""Text sources: English sentences from the nlp-corpus npm package, Chinese from Debian's fortunes-zh.

Both are cleaned into plain lines; nothing here is random, so the same files give the same lines.
"""
from pathlib import Path
import json
import re
import unicodedata

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def script_of(ch: str) -> str | None:
    """'han', 'hangul', 'latin' for a letter in that script, 'other' for another letter, None for a non-letter."""
    o = ord(ch)
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FA1F:
        return "han"
    if 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "hangul"
    if not unicodedata.category(ch).startswith("L"):
        return None
    if "LATIN" in unicodedata.name(ch, ""):
        return "latin"
    return "other"


def script_counts(text: str) -> dict[str, int]:
    counts = {"han": 0, "hangul": 0, "latin": 0, "other": 0}
    for ch in text:
        s = script_of(ch)
        if s:
            counts[s] += 1
    return counts


def blocklist(path: Path, whole_words: bool) -> re.Pattern:
    """A pattern matching any term of a naughty-words list (en.json, zh.json), case-insensitive.

    English terms match as whole words. Chinese terms match anywhere (no spaces between words), so only
    those of two or more Han characters are used: single characters such as 性 are parts of everyday words.
    """
    if not path.exists():
        raise FileNotFoundError(f"{path}: not found; install it with `npm install --prefix training/.cache naughty-words@1.2.0`")
    terms = {t.strip() for t in json.loads(path.read_text(encoding="utf-8")) if t.strip()}
    if not whole_words:
        terms = {t for t in terms if len(t) >= 2 and all(script_of(ch) == "han" for ch in t)}
    terms = sorted(terms, key=len, reverse=True)
    alternatives = "|".join(re.escape(t) for t in terms)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)" if whole_words else f"(?:{alternatives})", re.IGNORECASE)


def english_sentences(builds_dir: Path, blocked: re.Pattern) -> list[str]:
    """All sentences of nlp-corpus (builds/doc-0.json … doc-99.json), whitespace collapsed, in file order.

    Kept: 20–400 characters, printable, letters all Latin (no CJK, Hangul or other scripts), and no term
    of the `blocked` list (nlp-corpus has rap lyrics, chat logs and reddit threads: the demo is for everyone).
    """
    files = sorted(builds_dir.glob("doc-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    if len(files) != 100:
        raise FileNotFoundError(f"{builds_dir}: expected nlp-corpus's 100 files doc-0.json … doc-99.json, found {len(files)}; "
                                "install it with `npm install --prefix training/.cache nlp-corpus@4.4.0`")
    out = []
    for f in files:
        for s in json.loads(f.read_text(encoding="utf-8")):
            s = " ".join(str(s).split())
            if not 20 <= len(s) <= 400 or not s.isprintable():
                continue
            c = script_counts(s)
            if c["latin"] >= 10 and c["han"] == c["hangul"] == c["other"] == 0 and not blocked.search(s):
                out.append(s)
    return out


def fortune_entries(path: Path) -> list[str]:
    """Entries of a fortune file (separated by lines holding only '%'), colour escapes removed."""
    text = ANSI.sub("", path.read_text(encoding="utf-8", errors="replace"))
    return [e.strip("\n") for e in re.split(r"(?m)^%\s*$", text) if e.strip()]


def chinese_entries(fortunes_dir: Path, blocked: re.Pattern) -> list[str]:
    """fortunes-zh entries (chinese, tang300, song100), keeping only lines that are mostly Han characters.

    A line is kept when Han characters are at least 60% of its non-space characters (this drops the
    command listings and box drawings in the Debian reference excerpts); entries with a `blocked` term,
    or left empty, are dropped.
    """
    out = []
    for name in ("chinese", "tang300", "song100"):
        path = fortunes_dir / name
        if not path.exists():
            raise FileNotFoundError(f"{path}: not found; install Debian's fortunes-zh (apt-get install fortunes-zh)")
        for entry in fortune_entries(path):
            lines = []
            for line in entry.splitlines():
                line = " ".join(line.split())
                visible = [ch for ch in line if not ch.isspace()]
                if visible and script_counts(line)["han"] >= 0.6 * len(visible):
                    lines.append(line)
            text = "\n".join(lines)
            if lines and not blocked.search(text):
                out.append(text)
    return out


def chinese_prompt_lines(entries: list[str], min_han: int, max_chars: int) -> list[str]:
    """Single lines usable as prompts: ≥ min_han Han characters, ≤ max_chars, ≥ 90% of letters Han, no Latin."""
    out = []
    for e in entries:
        for line in e.splitlines():
            line = line.strip()
            if line.startswith(("--", "—")) or len(line) > max_chars:
                continue
            c = script_counts(line)
            letters = sum(c.values())
            if c["han"] >= min_han and c["latin"] == 0 and c["han"] >= 0.9 * letters:
                out.append(line)
    return out
