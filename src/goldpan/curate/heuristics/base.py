"""A document filter decides each text on its own and names the rule it broke."""

from __future__ import annotations

from abc import abstractmethod

import pyarrow as pa

from goldpan.data.schema import TEXT
from goldpan.engine.step import MapStep, OptionsT, with_reject_reasons


class DocumentFilter(MapStep[OptionsT]):
    """Map step whose subclasses answer, per text, the broken rule (or None to keep it)."""

    @abstractmethod
    def broken_rule(self, text: str) -> str | None:
        """The first rule the text breaks, as a short name (``mean_word_length``), or None."""

    def process(self, batch: pa.Table) -> pa.Table:
        reasons = []
        for text in batch.column(TEXT).to_pylist():
            rule = self.broken_rule(text)
            reasons.append(None if rule is None else self.reason(rule))
        return with_reject_reasons(batch, reasons)
