"""The exception types users see.

A ``GoldpanError`` is a problem with the user's input, recipe or environment. The CLI prints
its message on one line and exits with its ``exit_code``; anything else is a bug and keeps its
traceback. A ``StorageError`` is the machine refusing a read or a write (a full disk, a
permission, a folder that vanished): the run stops with the path and what to do, and rerunning
the same command once the cause is fixed resumes where it stopped.
"""

from __future__ import annotations

import errno
import os


class GoldpanError(Exception):
    """A user-facing error whose message says what is wrong and what to do."""

    exit_code = 2


class StorageError(GoldpanError):
    """A file-system operation failed for a reason outside goldpan (see ``storage_error``)."""

    exit_code = 1


RESUME = "then rerun the same command to resume"

_ADVICE = {
    errno.ENOSPC: "no space left on the device: free some space (or move the run elsewhere), "
    + RESUME,
    errno.EDQUOT: "disk quota exceeded: free some space (or move the run elsewhere), " + RESUME,
    errno.EACCES: "permission denied: make it readable and writable for this user, " + RESUME,
    errno.EPERM: "operation not permitted: make it writable for this user, " + RESUME,
    errno.EROFS: "the file system is read-only: mount it writable or move the run elsewhere, "
    + RESUME,
    errno.ENOENT: "no such file or folder (was it deleted or moved during the run?): restore it, "
    + RESUME,
    errno.EIO: "input/output error: check the device, " + RESUME,
}


def storage_error(error: OSError, path: str | os.PathLike[str] | None = None) -> StorageError:
    """One line for a failed read or write: the path, what happened, and what to do."""
    where = path if path is not None else error.filename
    advice = _ADVICE.get(error.errno or 0)
    if advice is None:
        what = error.strerror or str(error)
        advice = f"{what}: fix the cause, {RESUME}"
    return StorageError(f"{where}: {advice}" if where is not None else advice)
