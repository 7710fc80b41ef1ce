"""Text primitives shared by the heuristic filters: words, lines, sentences, punctuation.

The published rules (Gopher, C4, FineWeb) count "words" and "sentences" without saying how a
text is cut into them. The reference implementations cut with spaCy's rule-based English
tokenizer and sentencizer; we follow the same affix rules (split at whitespace, then peel
prefixes and suffixes such as brackets, quotes, currency, contractions and final periods, then
split infixes such as hyphens between letters), cached per chunk, at a fraction of the cost.
``benchmarks/filters.py`` measures how often decisions still differ.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import regex

# The affix rules of spaCy's English tokenizer, which the reference implementations use.
_PUNCT = "…,:;!?¿؟¡()[]{}<>_#*&。？！，、；：～·।،۔؛٪"
_QUOTES = "'\"”“`‘´’‚„»«「」『』（）〔〕【】《》〈〉⟦⟧"
_CURRENCY = "$£€¥฿₽₹₩₪₫₱₴₸₺₼₾"
PREFIX_CHARS = frozenset(_PUNCT + _QUOTES + _CURRENCY + "§%=—–")
SUFFIX_CHARS = frozenset(_PUNCT + _QUOTES + _CURRENCY + "%—–")
_SUFFIX_PERIOD = regex.compile(r"(?:(?<=[\p{N}\p{Ll}%²³\-'\"”’)\]])|(?<=\p{Lu}\p{Lu}))\.$")
_SUFFIX_CONTRACTION = regex.compile(r"(?i)(?<=\p{L})(?:n['’]t|['’](?:s|m|d|ll|re|ve))$")
_SUFFIX_UNIT = regex.compile(
    r"(?<=\p{N})(?:km|kg|mg|g|cm|mm|m|ml|l|lb|lbs|oz|ft|mph|kmh|hr|hrs|min|sec|s|ms|°[CFK]|\+)$"
)
_PREFIX_RUN = regex.compile(r"^(?:\.{2,}|…+)")
_SUFFIX_RUN = regex.compile(r"(?:\.{2,}|…+)$")
_INFIX = regex.compile(
    r"\.{2,}|…"
    r"|(?<=\p{N})[+\-*^](?=[\p{N}\-])"
    r"|(?<=[\p{Ll}'\"])\.(?=[\p{Lu}'\"])"
    r"|(?<=\p{L}),(?=\p{L})"
    r"|(?<=[\p{L}\p{N}])(?:---|--|-|–|—|~)(?=\p{L})"
    r"|(?<=[\p{L}\p{N}])[:<>=/](?=\p{L})"
)
_WHOLE = regex.compile(
    r"(?:https?://|www\.)\S*[^\s.,;:!?'\")\]]"  # URLs, without trailing punctuation
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|(?:\p{L}\.){2,}"  # abbreviations: U.S., e.g.
    r"|(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Ltd|Co|Corp|vs|etc|No|Jan|Feb|Mar|Apr|Jun|Jul|Aug"
    r"|Sep|Sept|Oct|Nov|Dec)\."
)


def _take_suffix(chunk: str) -> str | None:
    for pattern in (_SUFFIX_RUN, _SUFFIX_CONTRACTION, _SUFFIX_PERIOD, _SUFFIX_UNIT):
        found = pattern.search(chunk)
        if found and found.start() > 0:
            return found.group(0)
    return chunk[-1] if chunk[-1] in SUFFIX_CHARS else None


@lru_cache(maxsize=200_000)
def _split_chunk(chunk: str) -> tuple[str, ...]:
    """One whitespace-free chunk: affixes peeled from both ends, then the middle split at
    infixes; URLs, e-mail addresses and abbreviations stay whole."""
    prefixes: list[str] = []
    suffixes: list[str] = []
    while len(chunk) > 1 and not _WHOLE.fullmatch(chunk):
        run = _PREFIX_RUN.match(chunk)
        if run and run.end() < len(chunk):
            prefixes.append(run.group(0))
            chunk = chunk[run.end() :]
            continue
        if chunk[0] in PREFIX_CHARS:
            prefixes.append(chunk[0])
            chunk = chunk[1:]
            continue
        suffix = _take_suffix(chunk)
        if suffix is None:
            break
        suffixes.append(suffix)
        chunk = chunk[: -len(suffix)]
    middle: list[str] = []
    if chunk:
        if _WHOLE.fullmatch(chunk):
            middle = [chunk]
        else:
            start = 0
            for infix in _INFIX.finditer(chunk):
                if infix.start() > start:
                    middle.append(chunk[start : infix.start()])
                middle.append(infix.group(0))
                start = infix.end()
            if start < len(chunk):
                middle.append(chunk[start:])
    return (*prefixes, *middle, *reversed(suffixes))


def split_words(text: str) -> list[str]:
    """Words and punctuation tokens, in order, whitespace dropped."""
    words: list[str] = []
    for chunk in text.split():
        if chunk.isalpha() or chunk.isdigit():
            words.append(chunk)
        else:
            words.extend(_split_chunk(chunk))
    return words


_SENTENCE_TERMINAL = regex.compile(r"\p{Sentence_Terminal}")


def is_symbol(token: str) -> bool:
    """A token made only of punctuation, symbols or control characters ("#", "...", "$")."""
    return all(unicodedata.category(ch)[0] in "PSC" for ch in token)


def is_punctuation(token: str) -> bool:
    return all(unicodedata.category(ch)[0] == "P" for ch in token)


def is_sentence_terminal(char: str) -> bool:
    """Unicode Sentence_Terminal: . ! ? and their equivalents in other scripts."""
    return bool(_SENTENCE_TERMINAL.match(char))


def ends_with_terminal(line: str) -> bool:
    return bool(line) and is_sentence_terminal(line[-1])


def count_sentences(text: str) -> int:
    """Sentences as a sentencizer counts them: a new one starts at the first non-punctuation
    token after a sentence-terminal token."""
    tokens = split_words(text)
    if not tokens:
        return 0
    sentences, seen_terminal = 1, False
    for token in tokens:
        terminal = len(token) == 1 and is_sentence_terminal(token)
        if seen_terminal and not terminal and not is_punctuation(token):
            sentences += 1
            seen_terminal = False
        elif terminal:
            seen_terminal = True
    return sentences


def duplicates(items: list[str]) -> tuple[int, int]:
    """How many items repeat an earlier one, and how many characters those repeats hold."""
    seen: set[str] = set()
    count = chars = 0
    for item in items:
        if item in seen:
            count += 1
            chars += len(item)
        else:
            seen.add(item)
    return count, chars
