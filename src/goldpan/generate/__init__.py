"""LLM generation as run steps: responses (``generate``), AI-feedback ratings (``rate``), the
preference pairs made from them (``preference_pairs``), Self-Refine's feedback loop
(``self_refine``), Constitutional AI's critique and revision (``critique_revise``) and
WizardLM's Evol-Instruct (``evol_instruct``), Magpie's instructions from nothing (``magpie``)
and AttrPrompt's attributed prompts (``attr_prompt``). Each is
a step of the run engine, so every record is accounted for, parts resume, and the SQLite
generation cache means a killed or repeated run sends no request twice. Importing the package
registers its steps."""

from goldpan.generate import (  # noqa: F401
    attr_prompt,
    critique_revise,
    evol_instruct,
    generate,
    magpie,
    preference_pairs,
    rate,
    self_refine,
)
