"""``goldpan experiment-reverse-modeling``: the reverse-modeling experiment on the demo corpus.

1. The demo corpus, less a held-out set of clean text (Wikipedia summaries never trained on,
   the same for every seed), restricted to ``sources`` when given (selection within one kind of
   text, so that composition cannot explain the result), sampled (seeded) to ``pool_docs``.
2. ``train-scorers`` on the pool: a forward and a reverse scorer (any recipe).
3. A goldpan run scoring every document both ways, whole, in sliding windows of the scorers'
   context (``max_length``), and computing S; stats give S per source and the share S > 0.
4. ``select`` runs with equal token budgets: top-S, random and bottom-S, and ``perplexity``
   (lowest forward loss of the same forward scorer: the filter a user would pick instead).
5. One small LM per selection, same architecture, tokenizer and step count; their losses on the
   held-out clean text are compared, per document too, so seeds can be compared in pairs (the
   paper: top > random > bottom, i.e. top-S gives the lowest loss).
Everything lands in OUT (``experiment.json`` sums it up); ``compare_runs`` reads several seeds.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from goldpan.data.demo_corpus import build_demo_corpus
from goldpan.data.draws import uniform_from_ids
from goldpan.data.json_lines import read_json_objects, write_json_lines
from goldpan.engine.runner import run_recipe
from goldpan.errors import GoldpanError
from goldpan.recipe import parse_recipe
from goldpan.score.scorer_training import ScorerConfig, scoring_steps, train_scorers
from goldpan.util.atomic import atomic_write_json


def _texts(folder: Path) -> list[str]:
    return [
        t
        for p in sorted(folder.glob("*.parquet"))
        for t in pq.read_table(p, columns=["text"]).column("text").to_pylist()
    ]


def _sources(folder: Path) -> dict[str, int]:
    """Documents per source in a selection: what the selection favoured."""
    counts = Counter(
        s for p in sorted(folder.glob("*.parquet"))
        for s in pq.read_table(p, columns=["source"]).column("source").to_pylist()
    )
    return dict(counts.most_common())


# Each selection: the select step's mode and score column (random needs none).
SELECTIONS: dict[str, tuple[str, str | None]] = {
    "top": ("top", "s_score"),
    "random": ("random", None),
    "bottom": ("bottom", "s_score"),
    "perplexity": ("bottom", "fwd_loss"),
}


def clean_loss(
    model_folder: Path, texts: list[str], max_length: int = 128
) -> tuple[float, list[float]]:
    """Token-weighted mean loss of a model on texts (the held-out clean set), and each text's
    own mean loss (None where it has no token), for paired comparisons."""
    import pyarrow as pa

    from goldpan.score.lm import LmScore, LmScoreOptions

    step = LmScore(
        LmScoreOptions(model=str(model_folder), max_length=max_length, stride=max_length // 2)
    )
    table = pa.table(
        {
            "id": [str(i) for i in range(len(texts))],
            "text": pa.array(texts, pa.large_string()),
            "source": ["clean"] * len(texts),
        }
    )
    scored = step.process(table)
    nll = sum(scored.column("fwd_nll").to_pylist())
    return (nll / max(1, sum(scored.column("n_tokens").to_pylist())),
            scored.column("fwd_loss").to_pylist())


def run_experiment(
    out: Path,
    corpus: Path | None = None,
    config: ScorerConfig | None = None,
    budget_fraction: float = 0.25,
    held_out: int = 300,
    pool_docs: int = 4000,
    sources: list[str] | None = None,
    selections: list[str] | None = None,
    progress=None,
) -> dict[str, Any]:
    config = config or ScorerConfig()
    selections = selections or list(SELECTIONS)
    unknown = set(selections) - set(SELECTIONS)
    if unknown:
        raise GoldpanError(f"unknown selections {sorted(unknown)}; choose from {list(SELECTIONS)}")
    out.mkdir(parents=True, exist_ok=True)
    if corpus is None:
        corpus = out / "corpus.jsonl"
        if not corpus.exists():
            build_demo_corpus(corpus)
    rows = read_json_objects(corpus, "corpus")
    wiki = [r for r in rows if r["source"] == "wikipedia_en"]
    draws = uniform_from_ids([r["id"] for r in wiki], 0)  # the same clean set for every seed
    clean_ids = {
        r["id"] for r, d in sorted(zip(wiki, draws, strict=True), key=lambda x: x[1])[:held_out]
    }
    clean = [r["text"] for r in rows if r["id"] in clean_ids]
    pool = [r for r in rows if r["id"] not in clean_ids and r["text"].strip()
            and (not sources or r["source"] in sources)]
    if len(pool) < 10:
        raise GoldpanError(f"the pool has {len(pool)} documents (sources {sources}); need 10")
    if len(pool) > pool_docs:  # a seeded sample keeps the experiment to minutes on a CPU
        keep = uniform_from_ids([r["id"] for r in pool], config.seed + 1)
        pool = [r for r, d in sorted(zip(pool, keep, strict=True), key=lambda x: x[1])][:pool_docs]
    pool_path = out / "pool.jsonl"
    write_json_lines(pool_path, pool)

    scorers = out / "scorers"
    report: dict[str, Any] = {"pool_docs": len(pool), "clean_docs": len(clean),
                              "sources": sources, "seed": config.seed,
                              "config": config.model_dump(mode="json")}
    report["scorers"] = train_scorers([r["text"] for r in pool], scorers, config, progress)[
        "curves"
    ]

    scored = out / "scored"
    run_recipe(
        parse_recipe(
            {
                "input": {"paths": [str(pool_path)], "id_field": "id"},
                "output": {"dir": str(scored)},
                "steps": scoring_steps(scorers, config),
            }
        ),
    )
    stats = json.loads((scored / "stats.json").read_text())
    report["s_by_source"] = stats["scores"]["s_score"]
    total_tokens = sum(
        pq.read_table(p, columns=["n_tokens"]).column("n_tokens").to_numpy().sum()
        for p in (scored / "output").glob("*.parquet")
    )
    budget = int(total_tokens * budget_fraction)
    report["selection_budget_tokens"] = budget
    report["lms"] = {}
    # The LMs are plain forward models of the scorers' size, from scratch, whatever the recipe.
    lm_config = config.model_copy(update={"directions": ["forward"], "joint": False,
                                          "init_from": None, "lora": False})
    for name in selections:
        selection = out / f"select-{name}"
        mode, by = SELECTIONS[name]
        options: dict[str, Any] = {"name": "select", "mode": mode, "budget_tokens": budget}
        if by:
            options["by"] = by
        run_recipe(
            parse_recipe(
                {
                    "input": {
                        "paths": [str(scored / "output")],
                        "format": "parquet",
                        "id_field": "id",
                    },
                    "output": {"dir": str(selection)},
                    "seed": config.seed,
                    "steps": [options],
                }
            ),
        )
        texts = _texts(selection / "output")
        lm_dir = out / f"lm-{name}"
        (lm_dir / "tokenizer").mkdir(parents=True, exist_ok=True)
        for item in (scorers / "tokenizer").iterdir():  # one tokenizer for all models
            shutil.copy(item, lm_dir / "tokenizer" / item.name)
        sized = lm_config.model_copy(update={"sample_docs": len(texts)})
        curve = train_scorers(texts, lm_dir, sized, progress)["curves"]["forward"]
        mean, per_document = clean_loss(lm_dir / "forward", clean, config.max_length)
        report["lms"][name] = {
            "docs": len(texts),
            "sources": _sources(selection / "output"),
            "clean_held_out_loss": round(mean, 4),
            "own_held_out_loss": round(curve[-1]["held_out_loss"], 4),
            "clean_document_losses": per_document,
        }
    atomic_write_json(out / "experiment.json", report)
    return report
