"""The one exception type users see.

A ``GoldpanError`` is a problem with the user's input, recipe or environment. The CLI prints
its message on one line and exits non-zero; anything else is a bug and keeps its traceback.
"""


class GoldpanError(Exception):
    """A user-facing error whose message says what is wrong and what to do."""
