"""Resuming a distillation run: which stages are finished, for which settings.

``stages.json`` in the run folder holds the key of the run (a hash of the configuration, the
student and teacher specs and the input files' sizes and times) and the stages finished under
it. A rerun with the same key skips those stages and reads back what they left (D_pos and D_neg,
the negative LoRA, NAT, NAT's samples, the accuracies in results.json); any change of key starts
the run over. Teacher generations are cached separately, so even a new key asks the teacher for
nothing it has answered before.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from goldpan.util.atomic import atomic_write_json
from goldpan.util.hashing import config_hash

STAGES_FILE = "stages.json"


def _file_stamp(path: str | None) -> Any:
    if not path or not os.path.exists(path):
        return path
    stat = os.stat(path)
    return [path, stat.st_size, stat.st_mtime_ns]


def run_key(config: Any, student: str, teacher: str | None) -> str:
    """What the finished stages depend on."""
    settings = config.model_dump(mode="json")
    files = [_file_stamp(settings.get(k)) for k in ("train_file", "test_file", "rationales_file")]
    files += [_file_stamp(p) for p in sorted(settings.get("extra_test_files", {}).values())]
    return config_hash({"config": settings, "student": student, "teacher": teacher,
                        "files": files})


class StageLog:
    """The finished stages of a run folder under one key."""

    def __init__(self, out: Path, key: str) -> None:
        self.path, self.key = out / STAGES_FILE, key
        stored: dict[str, Any] = {}
        if self.path.is_file():
            try:
                stored = json.loads(self.path.read_text())
            except ValueError:
                stored = {}
        self.done: list[str] = stored.get("done", []) if stored.get("key") == key else []

    def finished(self, stage: str) -> bool:
        return stage in self.done

    def mark(self, stage: str) -> None:
        if stage not in self.done:
            self.done.append(stage)
        atomic_write_json(self.path, {"key": self.key, "done": self.done})
