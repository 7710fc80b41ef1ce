"""``output.push_to_hub``: the finished output uploaded to a Hugging Face dataset repository.

The upload is the last thing a run does, after the output's ``_SUCCESS`` marker, so a failed
upload leaves a complete run that a rerun pushes again without recomputing anything. Only the
output's files go up (not stages, rejects or stats). The token is the Hub library's own
(``HF_TOKEN``, or the one ``hf auth login`` saved), so it never appears in a recipe or a log.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from goldpan.errors import GoldpanError
from goldpan.util.storage import AnyPath, local_folder


def push_output(output_dir: AnyPath, files: list[str], repo_id: str, private: bool,
                api: Any = None) -> str:
    """Upload ``files`` (relative to ``output_dir``) to the dataset ``repo_id``; its URL."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise GoldpanError(
            f"output.push_to_hub: HF_HUB_OFFLINE is set, so nothing can be uploaded to "
            f"{repo_id}; unset it for this run (the run itself is complete)"
        )
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    folder = Path(local_folder(output_dir))
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(repo_id=repo_id, repo_type="dataset", folder_path=folder,
                                   allow_patterns=files,
                                   commit_message="goldpan: the output of a curation run")
    except Exception as error:  # the Hub library raises many kinds (HTTP, auth, validation)
        raise GoldpanError(f"output.push_to_hub: uploading to {repo_id} failed: {error}; the run "
                           "is complete, rerun the same command to try the upload again") from None
    return str(getattr(commit, "commit_url", None) or f"https://huggingface.co/datasets/{repo_id}")
