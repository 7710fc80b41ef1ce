"""The report of a curation run (`goldpan run`): where the documents went and what they look
like. Counts per step come from stats.json (exact, cheap); everything about the records
themselves is asked of the Parquet files through DuckDB (see rundata)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from goldpan.data.schema import REJECT_REASON, REJECT_STEP, SOURCE, TEXT
from goldpan.engine.stats import format_metric
from goldpan.report.bins import counted_histogram
from goldpan.report.conversations import conversations_section
from goldpan.report.figures import histogram_figure
from goldpan.report.histograms import MEASURES, sql_histogram
from goldpan.report.page import (
    Block,
    Document,
    Figure,
    Note,
    Report,
    Samples,
    Section,
    Table,
    snippet,
)
from goldpan.report.rundata import STATUS, CurationRun, quote
from goldpan.report.svg import bar_chart, stacked_bar_chart

MAX_SOURCES = 12  # sources drawn one by one; the rest are summed as "other"
MAX_SOURCE_ROWS = 40
MAX_REASONS = 60
SAMPLES_PER_REASON = 3
KEPT_SAMPLES = 12
KEPT_PER_SOURCE = 2
NO_SOURCE = "(no source)"
SOURCE_EXPR = f"coalesce(CAST({quote(SOURCE)} AS VARCHAR), '{NO_SOURCE}')"
WORDS_EXPR = f"length(regexp_extract_all({quote(TEXT)}, '\\S+'))"


def _percent(part: float, whole: float) -> str:
    """A share in percent: one decimal, or two significant digits below 0.1% (a rule that
    drops 4 of 10,000 documents should not read 0.0%)."""
    if not whole:
        return "–"
    share = 100 * part / whole
    return f"{share:.2g}%" if 0 < share < 0.1 else f"{share:.1f}%"


# ---------------------------------------------------------------------------- measures
CHARS, WORDS, SRC = "__chars", "__words", "__source"


def create_measures(run: CurationRun) -> None:
    """One pass over the texts: a narrow table of each record's status, source, step, length
    and numeric columns. Every chart and table after it reads this table, not the texts."""
    step = quote(REJECT_STEP) if run.has(REJECT_STEP) else "CAST(NULL AS VARCHAR)"
    numeric = "".join(f", {quote(c)}" for c in run.numeric_columns())
    run.connection.execute(
        f"CREATE TEMP TABLE {MEASURES} AS SELECT {STATUS}, {SOURCE_EXPR} AS {SRC}, "
        f"{step} AS {quote(REJECT_STEP)}, length({quote(TEXT)}) AS {CHARS}, "
        f"{WORDS_EXPR} AS {WORDS}{numeric} FROM records"
    )


# ---------------------------------------------------------------------------- sections
def funnel_section(stages: list[dict[str, Any]]) -> Section:
    read = stages[0]["records_in"] if stages else 0
    labels = [s["stage"] for s in stages]
    after = [s["records_out"] for s in stages]
    notes = [f"(−{s['rejected']:,}, {_percent(s['rejected'], read)})" if s["rejected"] else ""
             for s in stages]
    rows = [
        [s["stage"], s["kind"], s["records_in"], s["records_out"], s["rejected"],
         _percent(s["rejected"], s["records_in"]), round(s["seconds"], 2),
         s.get("records_per_second")]
        for s in stages
    ]
    blocks: list[Block] = [
        Figure(bar_chart(labels, after, "records after each step", notes),
               "Records left after each step; in brackets, what the step removed and its "
               "share of the input."),
        Table(["stage", "kind", "in", "out", "rejected", "rejected %", "seconds",
               "records/s"], rows),
    ]
    counted = [s for s in stages if s.get("metrics")]
    if counted:  # what steps counted besides records: an LLM judge's calls, tokens, cost
        names = list(dict.fromkeys(name for s in counted for name in s["metrics"]))
        blocks.append(Table(["stage", *(n.replace("_", " ") for n in names)],
                            [[s["stage"], *(format_metric(s["metrics"][n]) if n in s["metrics"]
                                            else "" for n in names)]
                             for s in counted]))
    return Section(
        "Funnel",
        blocks,
        "Each bar is the number of records that left the step; the first is the input.",
    )


def rejects_section(stages: list[dict[str, Any]]) -> Section:
    read = stages[0]["records_in"] if stages else 0
    rows = []
    for stage in stages:
        for reason, count in sorted(stage["rejects"].items(), key=lambda kv: (-kv[1], kv[0])):
            rows.append([stage["step"], reason, count, _percent(count, read),
                         _percent(count, stage["records_in"])])
    if not rows:
        return Section("Rejects", [Note("No record was rejected.")])
    shown = rows[:MAX_REASONS]
    blocks: list[Any] = [
        Figure(bar_chart([r[1] for r in shown], [r[2] for r in shown], "rejects by reason",
                         [f"({r[3]})" for r in shown]),
               "Rejected records per reason (reasons are named step:rule), in step order."),
        Table(["step", "reason", "records", "% of input", "% of the step's input"], rows),
    ]
    return Section("Rejects", blocks, "Why records were dropped, step by step.")


def sources_section(run: CurationRun, stages: list[dict[str, Any]]) -> Section:
    if not run.has(SOURCE):
        return Section("Sources", [Note("The records have no source column.")])
    rows = run.rows(
        f"SELECT {SRC}, {STATUS}, coalesce({quote(REJECT_STEP)}, '') AS step, count(*) AS n "
        f"FROM {MEASURES} GROUP BY ALL"
    )
    per_source: dict[str, dict[str, int]] = {}
    for src, status, step_name, n in rows:
        key = "kept" if status == "kept" else step_name or "rejected"
        per_source.setdefault(src, {}).setdefault(key, 0)
        per_source[src][key] += n
    totals = {src: sum(counts.values()) for src, counts in per_source.items()}
    ordered = sorted(per_source, key=lambda s: (-totals[s], s))
    step_order = [s["step"] for s in stages if s["rejected"]]
    series_names = ["kept"] + [s for s in step_order if any(s in per_source[x] for x in ordered)]
    drawn = ordered[:MAX_SOURCE_ROWS]
    series = {name: [per_source[src].get(name, 0) for src in drawn] for name in series_names}
    reasons = _main_reason_per_source(run) if run.has(REJECT_REASON) else {}
    table_rows = [
        [src, totals[src], per_source[src].get("kept", 0),
         _percent(per_source[src].get("kept", 0), totals[src]),
         totals[src] - per_source[src].get("kept", 0), reasons.get(src, "–")]
        for src in ordered
    ]
    blocks: list[Any] = [
        Figure(stacked_bar_chart(drawn, series, "records per source, kept and rejected by step"),
               "Each source's records: kept, then rejected by each step."),
        Table(["source", "read", "kept", "kept %", "rejected", "main reject reason"],
              table_rows),
    ]
    if len(ordered) > len(drawn):
        blocks.insert(1, Note(f"The chart shows the {len(drawn)} largest of {len(ordered)} "
                              "sources; the table lists them all."))
    return Section("Sources", blocks, "Where the kept and rejected records came from.")


def _main_reason_per_source(run: CurationRun) -> dict[str, str]:
    rows = run.rows(
        f"SELECT src, reason, n FROM (SELECT {SOURCE_EXPR} AS src, {quote(REJECT_REASON)} AS "
        f"reason, count(*) AS n FROM rejected GROUP BY ALL) "
        f"QUALIFY row_number() OVER (PARTITION BY src ORDER BY n DESC, reason) = 1"
    )
    return {src: f"{reason} ({n:,})" for src, reason, n in rows}


def tokens_section(run: CurationRun) -> Section:
    tokens = "n_tokens" if run.has("n_tokens") else None
    measure = f"CAST({quote(tokens)} AS BIGINT)" if tokens else WORDS
    rows = run.rows(
        f"SELECT {SRC}, {STATUS}, count(*), sum({measure}), sum({CHARS}) FROM {MEASURES} "
        f"GROUP BY ALL ORDER BY 1"
    )
    table: dict[str, list[int]] = {}
    for src, status, docs, units, chars in rows:
        entry = table.setdefault(src, [0, 0, 0, 0, 0])
        offset = 0 if status == "kept" else 3
        entry[offset] += docs
        entry[offset + 1] += int(units or 0)
        if status == "kept":
            entry[2] += int(chars or 0)
    unit = "tokens" if tokens else "words"
    ordered = sorted(table, key=lambda s: (-table[s][1], s))
    body: list[list[Any]] = [[src, *table[src][:3], table[src][4]] for src in ordered]
    total = [sum(row[i] for row in body) for i in range(1, 5)]
    body.append(["all sources", *total])
    note = (
        "Token counts are the scorer's (n_tokens)." if tokens
        else "No step counted tokens (n_tokens comes from lm_score), so words (runs of "
             "non-space characters) are counted instead."
    )
    return Section(
        "Tokens",
        [
            Figure(bar_chart(ordered[:MAX_SOURCE_ROWS], [table[s][1] for s in ordered][
                :MAX_SOURCE_ROWS], f"kept {unit} per source"), f"Kept {unit} per source."),
            Table(["source", "kept records", f"kept {unit}", "kept characters",
                   f"rejected {unit}"], body),
            Note(note),
        ],
        "How much text the run keeps, per source.",
    )


def distributions_section(run: CurationRun) -> Section:
    figures: list[Any] = []
    order = ["kept", "rejected"]
    for name, expression in (("length in characters", CHARS), ("length in words", WORDS)):
        result = sql_histogram(run, expression, STATUS)
        if result:
            figures.append(histogram_figure(*result, name, order))
    for column in run.numeric_columns():
        result = sql_histogram(run, quote(column), STATUS)
        if result:
            figures.append(histogram_figure(*result, column, order))
    intro = ("Every numeric column, kept records against rejected ones. A column a step adds "
             "is missing for the records rejected before that step.")
    return Section("Distributions", figures or [Note("No record to plot.")], intro)


def scores_section(run: CurationRun) -> Section | None:
    """The score columns the run's steps declared: histograms per source (drawn here from the
    records) and the summary figures the run computed once into stats.json."""
    summaries: dict[str, Any] = run.stats.get("scores") or {}
    present = [c for c in summaries if run.has(c)]
    if not present or not run.has(SOURCE):
        return None
    top = [row[0] for row in run.rows(
        f"SELECT {SRC} FROM {MEASURES} GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT {MAX_SOURCES}"
    )]
    by_source = f"CASE WHEN list_contains(?, {SRC}) THEN {SRC} ELSE 'other' END"
    blocks: list[Any] = []
    rows = []
    for column in present:
        result = sql_histogram(run, quote(column), by_source, [top])
        if result is not None:
            blocks.append(histogram_figure(*result, f"{column} by source", [*top, "other"]))
        per_source = summaries[column].get("by_source", {})
        shown = sorted(per_source.items(), key=lambda item: (-item[1]["count"], item[0]))
        for src, figures in [*shown[:MAX_SOURCES], ("all", summaries[column]["all"])]:
            # The share above zero means something for S only (the paper's per-source figure).
            rows.append([column, src, figures["count"], figures["mean"], figures["p10"],
                         figures["median"], figures["p90"],
                         figures["share_positive"] if column == "s_score" else None])
    if not blocks and not rows:
        return None
    blocks.append(Table(["score", "source", "records", "mean", "p10", "median", "p90",
                         "share > 0"], rows))
    intro = ("Model-based scores per source, over every record that was scored (kept or not). "
             "For the reverse-modeling score S = forward loss − reverse loss, the share of "
             "records with S > 0 is the paper's headline per-source figure.")
    return Section("Scores by source", blocks, intro)


def duplicates_section(run: CurationRun) -> Section | None:
    if not (run.has("reject_duplicate_of") and run.has(REJECT_STEP)):
        return None
    steps = [row[0] for row in run.rows(
        f"SELECT DISTINCT {quote(REJECT_STEP)} FROM rejected "
        f"WHERE reject_duplicate_of IS NOT NULL ORDER BY 1"
    )]
    if not steps:
        return None
    blocks: list[Any] = []
    rows = []
    for step in steps:
        clusters = (
            f"SELECT reject_duplicate_of AS keeper, count(*) + 1 AS size FROM rejected "
            f"WHERE {quote(REJECT_STEP)} = ? AND reject_duplicate_of IS NOT NULL GROUP BY 1"
        )
        sizes = run.rows(f"SELECT size, count(*) FROM ({clusters}) GROUP BY 1 ORDER BY 1", [step])
        count = sum(n for _, n in sizes)
        removed = sum((size - 1) * n for size, n in sizes)
        largest = max(size for size, _ in sizes)
        rows.append([step, count, removed, round((removed + count) / count, 2), largest])
        bins, counts = counted_histogram([size for size, _ in sizes], [n for _, n in sizes])
        blocks.append(histogram_figure(bins, {"clusters": counts}, f"{step} cluster size"))
        blocks.append(_largest_clusters(run, step, clusters))
    blocks.insert(0, Table(["step", "clusters", "duplicates removed", "mean size",
                            "largest"], rows))
    return Section("Duplicates", blocks, "Clusters of duplicates: one document kept, the others "
                   "rejected as its duplicates.")


def _largest_clusters(run: CurationRun, step: str, clusters: str) -> Samples:
    rows = run.dicts(
        f"SELECT c.keeper, c.size, r.{STATUS}, {SOURCE_EXPR} AS src, left(r.text, 400) AS text, "
        f"length(r.text) AS chars FROM ({clusters}) c LEFT JOIN records r ON r.id = c.keeper "
        f"ORDER BY c.size DESC, c.keeper LIMIT 3",
        [step],
    )
    documents = []
    for row in rows:
        text, cut = snippet(row["text"], 400)
        documents.append(Document(
            f"cluster of {row['size']:,}: {row['keeper']}",
            text,
            {"kept document's source": row["src"], "status": row[STATUS]},
            row["chars"] if row["chars"] and row["chars"] > len(text) else cut,
        ))
    return Samples(f"{step}: the largest clusters, by the document kept", documents)


def samples_section(run: CurationRun) -> Section:
    facts = [c for c in run.numeric_columns() if c not in ("n_tokens",)][:8]
    fact_sql = "".join(f", {quote(c)}" for c in facts)
    kept = run.dicts(  # the first few of each source in a fixed pseudo-random order
        f"SELECT id, {SOURCE_EXPR} AS src, left({quote(TEXT)}, 600) AS snippet, "
        f"length({quote(TEXT)}) AS chars{fact_sql} FROM kept "
        f"QUALIFY row_number() OVER (PARTITION BY src ORDER BY hash(id)) <= {KEPT_PER_SOURCE} "
        f"ORDER BY src, hash(id) LIMIT {KEPT_SAMPLES}"
    )
    blocks: list[Any] = [Samples("Kept records", [_document(r, facts) for r in kept], open=True)
                         if kept else Note("No record was kept.")]
    if run.has(REJECT_REASON):
        rejected = run.dicts(
            f"SELECT id, {SOURCE_EXPR} AS src, {quote(REJECT_REASON)} AS reason, "
            f"left({quote(TEXT)}, 600) AS snippet, length({quote(TEXT)}) AS chars{fact_sql} "
            f"FROM rejected QUALIFY row_number() OVER (PARTITION BY {quote(REJECT_REASON)} "
            f"ORDER BY hash(id)) <= {SAMPLES_PER_REASON} ORDER BY reason, hash(id)"
        )
        by_reason: dict[str, list[Document]] = {}
        for row in rejected:
            by_reason.setdefault(row["reason"] or "(no reason)", []).append(_document(row, facts))
        for reason in list(by_reason)[:MAX_REASONS]:
            blocks.append(Samples(f"Rejected: {reason}", by_reason[reason]))
    return Section("Samples", blocks, "A deterministic sample of kept records and a few "
                   "records for each reject reason; long texts are cut here, whole in "
                   "`goldpan inspect`.")


def _document(row: dict[str, Any], facts: list[str]) -> Document:
    details: dict[str, Any] = {"source": row["src"], "characters": row["chars"]}
    details.update({c: row[c] for c in facts if row.get(c) not in (None, 0)})
    text = row["snippet"] or ""
    return Document(str(row["id"]), text, details, row["chars"] if row["chars"] else None)


def recipe_section(root: Path) -> Section | None:
    path = root / "recipe.yaml"
    if not path.exists():
        return None
    recipe = yaml.safe_load(path.read_text()) or {}
    rows = [
        [index, step.get("name", "?"),
         json.dumps({k: v for k, v in step.items() if k != "name"}, sort_keys=True)]
        for index, step in enumerate(recipe.get("steps") or [], start=1)
    ]
    inputs = recipe.get("input", {})
    note = Note(f"Input: {', '.join(map(str, inputs.get('paths', [])))} "
                f"({inputs.get('format', 'auto')}); output: {recipe.get('output', {}).get('dir')}"
                f" as {recipe.get('output', {}).get('format')}; seed {recipe.get('seed')}.")
    return Section("Recipe", [note, Table(["#", "step", "options"], rows)])


# ---------------------------------------------------------------------------- the page
def curation_report(root: Path) -> Report:
    run = CurationRun(root)
    try:
        stats = run.stats
        stages = stats.get("stages", [])
        read = stages[0]["records_in"] if stages else 0
        kept = stats.get("output", {}).get("records", 0)
        rejected = sum(s["rejected"] for s in stages)
        facts = [
            ("records read", f"{read:,}"),
            ("kept", f"{kept:,} ({_percent(kept, read)})"),
            ("rejected", f"{rejected:,}"),
            ("steps", f"{max(0, len(stages) - 1)}"),
            ("run time", f"{stats.get('seconds', 0):,.1f} s"),
            ("executor", f"{stats.get('executor')} × {stats.get('workers')}"),
        ]
        create_measures(run)
        sections = [
            funnel_section(stages),
            rejects_section(stages),
            conversations_section(run, stages),
            sources_section(run, stages),
            tokens_section(run),
            distributions_section(run),
            scores_section(run),
            duplicates_section(run),
            samples_section(run),
            recipe_section(root),
        ]
    finally:
        run.close()
    return Report(
        f"curation run {root.name}",
        f"{root.resolve()} · output {stats.get('output', {}).get('format')}",
        facts,
        [s for s in sections if s is not None],
    )
