"""Column names shared by readers, steps, the engine and the ledger.

Every record has ``id``, ``text`` and ``source``; steps add their own columns. Columns whose
name starts with ``reject_`` describe why a record was dropped and are written to the rejects
only, never to the kept output.
"""

import pyarrow as pa

ID = "id"
TEXT = "text"
SOURCE = "source"
# Token ids (the tokenize step): bytes, their dtype in the column's metadata.
TOKENS = "tokens"
# Chat records' assistant-only loss mask beside their tokens: uint8 bytes, 1 where the loss counts.
LOSS_MASK = "loss_mask"

REJECT_PREFIX = "reject_"
REJECT_REASON = "reject_reason"
REJECT_STEP = "reject_step"
REJECT_FILE = "reject_file"
REJECT_LINE = "reject_line"

# Text can be large (a single document may be tens of MB), so it travels with 64-bit offsets.
TEXT_TYPE = pa.large_string()


def is_reject_column(name: str) -> bool:
    return name.startswith(REJECT_PREFIX)


def kept_columns(table: pa.Table) -> pa.Table:
    """Drop the reject bookkeeping columns before a table goes to the kept output."""
    drop = [name for name in table.column_names if is_reject_column(name)]
    return table.drop_columns(drop) if drop else table
