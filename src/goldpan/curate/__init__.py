"""Text steps: filters, cleaners and deduplication.

Importing the package registers every step it holds (the engine finds goldpan's steps this
way, as datatrove's ``filters/__init__.py`` does); heavy libraries load inside the steps."""

from goldpan.curate import (  # noqa: F401  (imported for their @register_step)
    chat_filter,
    decontaminate,
    langid,
    length,
    normalize,
    pii,
    sample,
    url_filter,
)
from goldpan.curate.dedup import exact, lines, minhash, semantic  # noqa: F401
from goldpan.curate.heuristics import (  # noqa: F401
    c4,
    fineweb,
    gopher_quality,
    gopher_repetition,
)
from goldpan.curate.html import step  # noqa: F401
