"""Model-based quality: LM losses in both directions, the reverse-modeling score, classifiers,
selection and mixing. Importing the package registers its steps."""

from goldpan.score import lm, mix, quality, reverse, select, tokenize  # noqa: F401
