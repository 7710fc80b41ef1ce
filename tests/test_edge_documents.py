"""Documents at the edges pass through every curation step without an exception, and every
drop has a reason."""

from __future__ import annotations

from pathlib import Path

import orjson

from goldpan.curate.heuristics.c4 import C4BadWords, C4Quality
from goldpan.curate.heuristics.fineweb import FineWebQuality
from goldpan.curate.heuristics.gopher_quality import GopherQuality
from goldpan.curate.heuristics.gopher_repetition import GopherRepetition
from goldpan.curate.langid import LangId
from goldpan.curate.normalize import Normalize
from goldpan.curate.pii import Pii
from goldpan.engine.ledger import verify_run
from goldpan.engine.runner import run_recipe
from goldpan.engine.tasks import run_steps
from goldpan.recipe import parse_recipe
from tests.realtext import article, batch, summaries

EDGE_TEXTS = {
    "empty": "",
    "whitespace": " \n\t \r\n  ",
    "one_enormous_line": article(0).replace("\n", " ") * 400,  # about 0.5 MB, no newline
    "binary_looking": bytes(range(256)).decode("latin-1") * 20,
    "chinese": "北京是中华人民共和国的首都，也是全国的政治、文化中心。" * 20,
    "arabic": "القاهرة هي عاصمة جمهورية مصر العربية وأكبر مدنها. " * 20,
    "russian": "Москва — столица России, крупнейший по численности населения город страны. " * 20,
    "emoji": "🙂🙃😉 " * 300,
    "ordinary": article(3),
}

STEPS = [
    Normalize(),
    LangId(LangId.Options(languages=None)),
    GopherQuality(),
    GopherRepetition(),
    C4Quality(),
    FineWebQuality(),
    C4BadWords(),
    Pii(),
]


def test_every_step_takes_edge_documents_one_by_one() -> None:
    for name, text in EDGE_TEXTS.items():
        for step in STEPS:
            result = step.process(batch([text]))
            assert result.num_rows == 1, (name, step.name)
            if "reject_reason" in result.column_names:
                reason = result.column("reject_reason").to_pylist()[0]
                assert reason is None or reason.startswith(step.name + ":"), (name, reason)


def test_edge_documents_through_the_whole_chain_are_kept_or_rejected_with_reasons() -> None:
    kept, rejected, counts = run_steps(batch(list(EDGE_TEXTS.values())), STEPS)
    kept_ids = kept.column("id").to_pylist()
    rejected_rows = [r for table in rejected for r in table.to_pylist()]
    assert len(kept_ids) + len(rejected_rows) == len(EDGE_TEXTS)
    assert all(r["reject_reason"] and r["reject_step"] for r in rejected_rows)
    assert kept_ids == ["d8"]  # only the ordinary article survives every rule
    assert counts[0].records_in == len(EDGE_TEXTS)


def test_edge_documents_in_a_real_run_keep_the_ledger(tmp_path: Path) -> None:
    path = tmp_path / "edge.jsonl"
    with path.open("wb") as handle:
        for name, text in EDGE_TEXTS.items():
            handle.write(orjson.dumps({"id": name, "text": text}) + b"\n")
        for index, text in enumerate(summaries("fr")[:3]):
            handle.write(orjson.dumps({"id": f"fr{index}", "text": text}) + b"\n")
    recipe = parse_recipe(
        {
            "input": {"paths": [str(path)], "id_field": "id"},
            "output": {"dir": str(tmp_path / "run")},
            "workers": 1,
            "steps": [
                {"name": "normalize"},
                {"name": "langid"},
                {"name": "gopher_repetition"},
                {"name": "gopher_quality"},
                {"name": "c4_quality"},
                {"name": "fineweb_quality"},
                {"name": "c4_badwords"},
                {"name": "pii"},
                {"name": "exact_dedup"},
            ],
        }
    )
    result = run_recipe(recipe)
    assert result.output_records == 1
    assert verify_run(tmp_path / "run")[0] == []
    reasons = {reason for stage in result.stats for reason in stage.rejects}
    assert "normalize:empty" in reasons and "langid:language" in reasons
