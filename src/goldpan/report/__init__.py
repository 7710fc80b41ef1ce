"""Reports and the inspector: every run explains itself in one self-contained HTML page.

``build_report`` recognises the kind of run from the files it left (a curation run's
stats.json with stages, Self-Instruct's tasks.jsonl, Montessori-Instruct's summary.json,
a distillation's results.json) and hands it to that kind's section builder.
"""

from __future__ import annotations

from pathlib import Path

from goldpan.errors import GoldpanError
from goldpan.report.page import Report, write_page
from goldpan.util.storage import AnyPath, to_path

REPORT_FILE = "report.html"


def build_report(where: str | Path) -> Report:
    root: AnyPath = to_path(where)
    if not root.is_dir():
        raise GoldpanError(f"{root}: no such run directory")
    from goldpan.report import curation, distill, synth
    from goldpan.report.rundata import is_curation_run

    kinds = (
        (is_curation_run, curation.curation_report),
        (synth.is_montessori_run, synth.montessori_report),
        (synth.is_self_instruct_run, synth.self_instruct_report),
        (distill.is_distill_run, distill.distill_report),
    )
    for recognises, build in kinds:
        if recognises(root):
            return build(root)
    raise GoldpanError(
        f"{root}: not a goldpan run directory (expected the stats.json of `goldpan run`, or "
        "the output of `goldpan synth self-instruct|montessori` or `goldpan distill run`)"
    )


def write_report(root: str | Path, out: str | Path | None = None) -> Path:
    """Write the report of the run in ``root`` (to ``root/report.html`` unless told)."""
    folder: AnyPath = to_path(root)
    return write_page(build_report(folder), to_path(out) if out else folder / REPORT_FILE)
