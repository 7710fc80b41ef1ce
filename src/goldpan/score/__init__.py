"""Model-based quality: LM losses in both directions, the reverse-modeling score, classifiers
(trained in the run or loaded), LLM judges, selection and mixing. Importing the package
registers its steps."""

from goldpan.score import (  # noqa: F401
    classify,
    llm_judge,
    lm,
    mix,
    quality,
    reverse,
    select,
    tokenize,
)
