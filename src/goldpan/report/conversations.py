"""The report's section on conversations: how long they are, who says how much, and why they
were dropped.

Turns per conversation are counted in SQL over every record, kept or rejected. Tokens per role
are counted with the tokenizer the recipe names (``output.tokenizer``, or a step's
``tokenizer``), over the kept conversations; a recipe that names none gets words (runs of
non-space characters) instead, and the section says so.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import yaml

from goldpan.data.chat_records import MESSAGES, PREFERENCE_COLUMNS
from goldpan.data.schema import REJECT_REASON
from goldpan.report.figures import histogram_figure
from goldpan.report.histograms import sql_histogram
from goldpan.report.page import Figure, Note, Section, Table
from goldpan.report.rundata import STATUS, CurationRun, quote
from goldpan.report.svg import bar_chart

TOKENS_BATCH = 2_000
CONVERSATION_REASONS = ("read:bad_messages:", "chat_filter:")


def conversation_columns(run: CurationRun) -> tuple[str, ...]:
    """The turn columns of the run's records (none for a text run)."""
    if run.has(MESSAGES) and run.columns[MESSAGES].startswith("STRUCT"):
        return (MESSAGES,)
    if all(run.has(c) and run.columns[c].startswith("STRUCT") for c in PREFERENCE_COLUMNS):
        return PREFERENCE_COLUMNS
    return ()


def recipe_tokenizer(run: CurationRun) -> str | None:
    """The tokenizer the recipe names, output's first, else the first step's that has one."""
    path = run.root / "recipe.yaml"
    if not path.exists():
        return None
    recipe = yaml.safe_load(path.read_text()) or {}
    named = [(recipe.get("output") or {}).get("tokenizer")]
    named += [step.get("tokenizer") for step in recipe.get("steps") or []]
    return next((n for n in named if isinstance(n, str) and n), None)


def _turn_counts(run: CurationRun, column: str) -> Any:
    return sql_histogram(run, quote(column), STATUS, view="conversation_measures")


def _side_rows(run: CurationRun, columns: tuple[str, ...]) -> list[tuple[str, str, int, int]]:
    """(side, role, turns, words) over the kept records."""
    rows = []
    for column in columns:
        rows += run.rows(
            f"SELECT '{column}', t.role, count(*), sum(length(regexp_extract_all(t.content, "
            f"'\\S+'))) FROM (SELECT unnest({quote(column)}) AS t FROM kept) GROUP BY ALL "
            "ORDER BY 1, 2"
        )
    return rows


def _tokens_per_side(run: CurationRun, columns: tuple[str, ...], spec: str
                     ) -> Counter[tuple[str, str]]:
    from tokenizers import Tokenizer

    from goldpan.score.tokenize import tokenizer_file

    tokenizer = Tokenizer.from_file(str(tokenizer_file(spec)[0]))
    totals: Counter[tuple[str, str]] = Counter()
    for column in columns:
        cursor = run.cursor().execute(
            f"SELECT t.role, t.content FROM (SELECT unnest({quote(column)}) AS t FROM kept)")
        while batch := cursor.fetchmany(TOKENS_BATCH):
            encoded = tokenizer.encode_batch_fast([content or "" for _, content in batch],
                                                  add_special_tokens=False)
            for (role, _), ids in zip(batch, encoded, strict=True):
                totals[(column, role)] += len(ids.ids)
    return totals


def distinct_ngrams(texts: Any, n: int) -> tuple[int, int]:
    """Distinct word n-grams and all word n-grams of the texts (distinct-n is their ratio)."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        words = (text or "").lower().split()
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        total += len(grams)
        seen.update(grams)
    return len(seen), total


def diversity_blocks(run: CurationRun, columns: tuple[str, ...]) -> list[Any]:
    """Distinct-1 and distinct-2 of the kept turns per role, and, for attributed prompts, the
    values each attribute covered: the diversity measures of AttrPrompt (Yu et al. 2023)."""
    rows = []
    for column in columns:
        for (role,) in run.rows(f"SELECT DISTINCT t.role FROM (SELECT unnest("
                                f"{quote(column)}) AS t FROM kept) ORDER BY 1"):
            cursor = run.cursor().execute(
                f"SELECT t.content FROM (SELECT unnest({quote(column)}) AS t FROM kept) "
                "WHERE t.role = ?", [role])
            texts = [row[0] for row in cursor.fetchall()]
            figures = [distinct_ngrams(texts, n) for n in (1, 2)]
            rows.append([*([column] if len(columns) > 1 else []), role, len(texts),
                         *(round(d / t, 4) if t else None for d, t in figures)])
    blocks: list[Any] = []
    if rows:
        head = ["side"] if len(columns) > 1 else []
        blocks.append(Table([*head, "role", "turns", "distinct-1", "distinct-2"], rows))
    if run.has("attributes"):
        seen: dict[str, Counter[str]] = {}
        for (text,) in run.rows("SELECT attributes FROM kept WHERE attributes IS NOT NULL"):
            for dimension, value in json.loads(text).items():
                seen.setdefault(dimension, Counter())[value] += 1
        blocks.append(Table(["attribute", "values covered", "most used", "least used"], [
            [dimension, len(counts), *(f"{v} ({n})" for v, n in (
                counts.most_common(1)[0], counts.most_common()[-1]))]
            for dimension, counts in sorted(seen.items())]))
    return blocks


def conversations_section(run: CurationRun, stages: list[dict[str, Any]]) -> Section | None:
    columns = conversation_columns(run)
    if not columns:
        return None
    lengths = ", ".join(f"len({quote(c)}) AS {quote(c)}" for c in columns)
    run.connection.execute(f"CREATE OR REPLACE TEMP VIEW conversation_measures AS SELECT "
                           f"{STATUS}, {lengths} FROM records WHERE {quote(columns[0])} "
                           "IS NOT NULL")
    blocks: list[Any] = []
    for column in columns:
        histogram = _turn_counts(run, column)
        if histogram is not None:
            label = "turns per conversation" if column == MESSAGES else f"{column} turns"
            bins, counts = histogram
            blocks.append(histogram_figure(bins, counts, label, ["kept", "rejected"]))
    sides = _side_rows(run, columns)
    spec = recipe_tokenizer(run)
    tokens = _tokens_per_side(run, columns, spec) if spec and sides else None
    sided = len(columns) > 1  # a preference's prompt, chosen and rejected
    head = (["side"] if sided else []) + ["role", "turns", "words"] + (
        ["tokens"] if tokens is not None else [])
    body: list[list[Any]] = [([side] if sided else []) + [role, turns, int(words or 0)]
            + ([tokens[(side, role)]] if tokens is not None else [])
            for side, role, turns, words in sides]
    if body:
        unit = "tokens" if tokens is not None else "words"
        labels = [f"{side}/{role}" if sided else role for side, role, _, _ in sides]
        blocks.append(Figure(bar_chart(labels, [row[-1] for row in body],
                                       f"kept {unit} per role"), f"Kept {unit} per role."))
        blocks.append(Table(head, body))
        blocks.append(Note(f"Tokens by {spec!r}, the recipe's tokenizer, each turn's content "
                           "alone (no chat template)." if tokens is not None else
                           "The recipe names no tokenizer, so words are counted."))
    blocks += diversity_blocks(run, columns)
    reasons = [[stage["step"], reason, count] for stage in stages
               for reason, count in sorted(stage["rejects"].items(), key=lambda kv: -kv[1])
               if reason.startswith(CONVERSATION_REASONS)]
    if reasons:
        blocks.append(Table(["step", "rule", "conversations"], reasons))
    if run.has(REJECT_REASON) and not reasons:
        blocks.append(Note("No conversation was malformed or rejected by chat_filter."))
    return Section("Conversations", blocks, "Turns per conversation, kept and rejected; what "
                   "each role says in the kept ones; the rules conversations failed.")
