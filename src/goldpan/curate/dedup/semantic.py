"""``semantic_dedup``: SemDeDup (Abbas et al. 2023, "SemDeDup: Data-efficient learning at
web-scale through semantic deduplication").

Documents are embedded (all-MiniLM-L6-v2 from an installed package by default) and grouped by
spherical k-means; inside each cluster, records are visited from the one nearest the centroid
outwards, and a record whose cosine similarity to a kept one (or, as in the reference code, to
any record visited before it) exceeds 1 - eps is removed as a semantic duplicate of it.
Embeddings are written per part to the stage's work folder; the merge reads them back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pyarrow as pa
from pydantic import Field

from goldpan.data.schema import ID, TEXT
from goldpan.engine.registry import register_step
from goldpan.engine.step import (
    FitContext,
    GlobalStep,
    StepOptions,
    with_column,
    with_reject_reasons,
)
from goldpan.models.precision import DtypeChoice
from goldpan.util.atomic import atomic_write_array, atomic_write_parquet
from goldpan.util.storage import load_array, read_parquet


class SemanticDedupOptions(StepOptions):
    n_clusters: int | None = Field(
        None, ge=1, description="k-means clusters (default: about sqrt(records / 2))."
    )
    eps: float = Field(0.05, gt=0, lt=1, description="Remove above cosine similarity 1 - eps.")
    compare_with: Literal["kept", "earlier"] = Field(
        "kept", description="kept records only, or every record visited before (reference code)."
    )
    model: str = Field("all-minilm-l6-v2", description="Embedding model: embedded name or folder.")
    max_length: int = Field(256, ge=8, description="Tokens embedded per text.")
    batch_size: int = Field(32, ge=1)
    dtype: DtypeChoice = Field(
        "auto", description="Embedding dtype: auto is bfloat16 where the device computes it "
        "natively, else float32.",
    )
    iterations: int = Field(25, ge=1, description="k-means iterations.")
    seed: int | None = Field(None, description="k-means seed (default: the recipe's seed).")


def spherical_kmeans(
    vectors: np.ndarray, k: int, seed: int, iterations: int
) -> tuple[np.ndarray, np.ndarray]:
    """Centroids (unit vectors) and labels; k-means++ start, cosine assignment."""
    rng = np.random.default_rng(seed)
    count = len(vectors)
    k = max(1, min(k, count))
    centroids = [vectors[rng.integers(count)]]
    closest = 1 - vectors @ centroids[0]
    for _ in range(1, k):
        weights = np.clip(closest, 0, None) ** 2
        total = weights.sum()
        choice = rng.choice(count, p=weights / total) if total > 0 else rng.integers(count)
        centroids.append(vectors[choice])
        closest = np.minimum(closest, 1 - vectors @ vectors[choice])
    centres = np.stack(centroids).astype(np.float32)
    labels = np.zeros(count, dtype=np.int64)
    for _ in range(iterations):
        new_labels = np.concatenate(
            [
                np.argmax(vectors[start : start + 65536] @ centres.T, axis=1)
                for start in range(0, count, 65536)
            ]
        )
        if np.array_equal(new_labels, labels) and _ > 0:
            break
        labels = new_labels
        for cluster in range(k):
            members = vectors[labels == cluster]
            if len(members):
                mean = members.mean(axis=0)
                centres[cluster] = mean / max(np.linalg.norm(mean), 1e-12)
    return centres, labels


@register_step
class SemanticDedup(GlobalStep[SemanticDedupOptions]):
    """Remove semantic near-duplicates (SemDeDup): embeddings, k-means, cosine within clusters."""

    name = "semantic_dedup"
    text_side = "prompt"

    def fit_part(self, batch: pa.Table, part_index: int, context: FitContext) -> int:
        from goldpan.models.embeddings import load_embedder

        o = self.options
        embedder = load_embedder(o.model, o.max_length, o.batch_size, o.dtype)
        vectors = embedder.embed(batch.column(TEXT).to_pylist())
        atomic_write_array(context.part_file(part_index, ".npy"), vectors)
        atomic_write_parquet(pa.table({ID: batch.column(ID)}),
                             context.part_file(part_index, ".parquet"))
        return batch.num_rows

    def merge(self, summaries: Sequence[int], context: FitContext) -> dict[str, str]:
        o = self.options
        present = [i for i, count in enumerate(summaries) if count]
        if not present:
            return {}
        vectors = np.concatenate([load_array(context.part_file(i, ".npy")) for i in present])
        ids = [
            v
            for i in present
            for v in read_parquet(context.part_file(i, ".parquet")).column(ID).to_pylist()
        ]
        k = o.n_clusters or max(1, round((len(ids) / 2) ** 0.5))
        seed = self.seed if o.seed is None else o.seed
        centres, labels = spherical_kmeans(vectors, k, seed, o.iterations)
        state: dict[str, str] = {}
        for cluster in range(len(centres)):
            members = np.flatnonzero(labels == cluster)
            if len(members) < 2:
                continue
            order = members[np.argsort(-(vectors[members] @ centres[cluster]), kind="stable")]
            similarity = vectors[order] @ vectors[order].T
            kept: list[int] = []
            for position in range(len(order)):
                against = kept if o.compare_with == "kept" else list(range(position))
                if against:
                    best = against[int(np.argmax(similarity[position, against]))]
                    if similarity[position, best] > 1 - o.eps:
                        state[ids[order[position]]] = ids[order[best]]
                        continue
                kept.append(position)
        return state

    def apply(self, batch: pa.Table, state: dict[str, str]) -> pa.Table:
        duplicate_of = [state.get(record_id) for record_id in batch.column(ID).to_pylist()]
        reasons = [None if d is None else self.reason("semantic_duplicate") for d in duplicate_of]
        batch = with_column(batch, "reject_duplicate_of", pa.array(duplicate_of, pa.string()))
        return with_reject_reasons(batch, reasons)
