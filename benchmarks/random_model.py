"""A random-initialised copy of a model folder: same architecture and tokenizer, new weights.

Throughput does not depend on the weights' values, so a GPU machine without the embedded model
packages (or without room for the weights) can still measure ``benchmarks/scoring.py`` on the
right architecture. The source folder needs only config.json and the tokenizer files.

    python benchmarks/random_model.py SOURCE_FOLDER TARGET_FOLDER
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "generation_config.json")


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(source))
    model.save_pretrained(target)
    for name in TOKENIZER_FILES:
        if (source / name).is_file():
            shutil.copy(source / name, target / name)
    print(f"saved {target}")


if __name__ == "__main__":
    main()
