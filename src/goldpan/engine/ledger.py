"""``goldpan verify``: the ledger invariant of a finished run.

Every input row is counted when it is read. The check: the kept output and the rejects of all
stages together hold exactly that many records, no id twice; each step's arithmetic closes
(in = out + rejected, and one step's out is the next one's in); and each stage's rejects files
hold what its stats claim.
"""

from __future__ import annotations

import gzip
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import orjson
import pyarrow as pa
import yaml

from goldpan.data.schema import ID
from goldpan.data.token_shards import MANIFEST, check_token_shards
from goldpan.engine.rundir import MARKER_SUFFIX, STAGE_META, RunDir, read_json
from goldpan.util.storage import local_copy, read_parquet


def _ids_of_parquet(path: Path) -> list[str]:
    return read_parquet(path, columns=[ID]).column(ID).to_pylist()


def output_ids(output_dir: Path) -> list[str]:
    ids: list[str] = []
    for path in sorted(output_dir.rglob("*")):
        name = path.name
        if name.endswith(".parquet"):
            ids += _ids_of_parquet(path)
        elif name.endswith((".jsonl", ".jsonl.gz")):
            with path.open("rb") as raw, (
                gzip.GzipFile(fileobj=raw) if name.endswith(".gz") else nullcontext(raw)
            ) as handle:
                ids += [orjson.loads(line)[ID] for line in handle if line.strip()]
        elif name.endswith(".arrow"):
            with pa.memory_map(str(local_copy(path))) as source:
                ids += pa.ipc.open_stream(source).read_all().column(ID).to_pylist()
    return ids


def verify_run(root: str | Path) -> tuple[list[str], dict[str, int]]:
    """Problems found (empty when the ledger holds) and the totals that were compared."""
    run = RunDir(root)
    problems: list[str] = []
    if not run.root.is_dir():
        return [f"{run.root}: no such run directory"], {}
    if not (run.output_dir / "_SUCCESS").exists():
        return [f"{run.root}: the run has not finished (no output/_SUCCESS)"], {}
    if not (run.root / "recipe.yaml").exists():
        return [f"{run.root}: no recipe.yaml"], {}
    stages = yaml.safe_load((run.root / "recipe.yaml").read_text()).get("stages", [])
    rows_seen = 0
    expected_rejects = 0
    previous_out: int | None = None
    for position, stage in enumerate(stages):
        folder = run.stages_dir / stage["name"]
        meta_path = folder / STAGE_META
        if not meta_path.exists():
            problems.append(f"stage {stage['name']}: not complete")
            continue
        meta = read_json(meta_path)
        if meta.get("key") != stage["key"]:
            problems.append(f"stage {stage['name']}: its data belongs to another recipe")
        if position == 0:
            for marker in sorted(folder.glob(f"part-*{MARKER_SUFFIX}")):
                rows_seen += read_json(marker)["counts"][0]["records_in"]
        for step in meta["stats"]:
            rejected = sum(step["rejects"].values())
            if step["records_in"] != step["records_out"] + rejected:
                problems.append(
                    f"{step['stage']}: {step['records_in']} in != {step['records_out']} out + "
                    f"{rejected} rejected"
                )
            if previous_out is not None and step["records_in"] != previous_out:
                problems.append(
                    f"{step['stage']}: {step['records_in']} in, but the step before kept "
                    f"{previous_out}"
                )
            previous_out = step["records_out"]
            expected_rejects += rejected
    if previous_out is None:
        problems.append("no stage statistics")

    seen: Counter[str] = Counter()
    kept = output_ids(run.output_dir)
    seen.update(kept)
    rejected_ids: list[str] = []
    for path in sorted(run.rejects_root.rglob("*.parquet")) if run.rejects_root.exists() else []:
        rejected_ids += _ids_of_parquet(path)
    seen.update(rejected_ids)
    twice = [record_id for record_id, count in seen.items() if count > 1]
    if twice:
        problems.append(f"{len(twice)} ids are recorded more than once (e.g. {twice[:3]})")
    if len(rejected_ids) != expected_rejects:
        problems.append(
            f"the rejects hold {len(rejected_ids)} records, the stats count {expected_rejects}"
        )
    if previous_out is not None and len(kept) != previous_out:
        problems.append(f"the output holds {len(kept)} records, the last step kept {previous_out}")
    accounted = len(kept) + len(rejected_ids)
    if accounted != rows_seen:
        problems.append(
            f"{rows_seen} input records were read but {accounted} are accounted for "
            f"({len(kept)} kept + {len(rejected_ids)} rejected)"
        )
    if (run.output_dir / MANIFEST).is_file():  # token shards: re-read them all
        problems += check_token_shards(run.output_dir)
    totals = {"read": rows_seen, "kept": len(kept), "rejected": len(rejected_ids)}
    return problems, totals
