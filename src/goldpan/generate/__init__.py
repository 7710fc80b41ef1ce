"""LLM generation as run steps: responses (``generate``), AI-feedback ratings (``rate``) and
the preference pairs made from them (``preference_pairs``). Each is a step of the run engine,
so every record is accounted for, parts resume, and the SQLite generation cache means a
killed or repeated run sends no request twice. Importing the package registers its steps."""

from goldpan.generate import generate, preference_pairs, rate  # noqa: F401
