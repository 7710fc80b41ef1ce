"""Expanding the recipe's input paths into a sorted list of files, each with its format."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, replace
from pathlib import Path

from goldpan.errors import GoldpanError
from goldpan.util.storage import is_url, open_input, to_path

JSONL_SUFFIXES = (
    ".jsonl",
    ".json",
    ".ndjson",
    ".jsonl.gz",
    ".json.gz",
    ".ndjson.gz",
    ".jsonl.zst",
    ".json.zst",
    ".ndjson.zst",
)
PARQUET_SUFFIXES = (".parquet", ".pq")
TEXT_SUFFIXES = (".txt",)
WARC_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz")


@dataclass(frozen=True)
class InputFile:
    """One unit of reading: a file (or an HF dataset folder), or a byte range of a big plain
    JSONL file, and the label its ids start with."""

    path: str
    label: str  # path relative to the inputs' common folder: the prefix of derived ids
    format: str
    size: int
    mtime_ns: int
    start: int = 0  # byte range [start, end) of a split file, on line boundaries
    end: int | None = None
    first_line: int = 1  # the number of the range's first line in the whole file


def split_by_lines(unit: InputFile, target_bytes: int) -> list[InputFile]:
    """A plain JSONL file cut into ranges of about ``target_bytes`` that end on a line break,
    each knowing its first line number (one pass over the file counting newlines), so that
    several workers read one big file and derived ids stay FILE:LINE."""
    if (
        unit.format != "jsonl"
        or unit.size <= target_bytes
        or unit.path.lower().endswith((".gz", ".zst"))
    ):
        return [unit]
    ranges: list[InputFile] = []
    start, line, position = 0, 1, 0
    lines_before = 0
    with open_input(unit.path) as handle:
        while True:
            block = handle.read(8 << 20)
            if not block:
                break
            cut_from = 0
            while position + len(block) - cut_from >= start + target_bytes:
                offset = start + target_bytes - position
                newline = block.find(b"\n", max(offset, cut_from))
                if newline < 0:
                    break
                lines_before += block.count(b"\n", cut_from, newline + 1)
                end = position + newline + 1
                ranges.append(replace(unit, start=start, end=end, first_line=line))
                start, line, cut_from = end, lines_before + 1, newline + 1
            lines_before += block.count(b"\n", cut_from)
            position += len(block)
    if start < unit.size:
        ranges.append(replace(unit, start=start, end=unit.size, first_line=line))
    return ranges


def _is_hf_dataset(path: Path) -> bool:
    return (path / "state.json").is_file() or (path / "dataset_dict.json").is_file()


def detect_format(path: Path) -> str | None:
    if path.is_dir():
        return "hf" if _is_hf_dataset(path) else "textdir"
    return format_of_name(path.name)


def format_of_name(name: str) -> str | None:
    """The input format a file's name says (``None``: not an input file)."""
    name = name.lower()
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(TEXT_SUFFIXES):
        return "text"
    if name.endswith(WARC_SUFFIXES):
        return "warc"
    return None


def _files_under(folder: Path, wanted: str) -> list[Path]:
    """Input units inside a folder. Its .txt files form one unit (the folder itself), so a
    folder of a million small documents is one reading task, not a million."""
    if wanted in ("auto", "hf") and _is_hf_dataset(folder):
        return [folder]
    found = []
    has_text = False
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            detected = detect_format(path)
            if detected == "text":
                has_text = has_text or wanted in ("auto", "text")
            elif detected and (wanted in ("auto", detected)):
                found.append(path)
    return [*found, folder] if has_text else found


def _url_files(pattern: str, index: int, wanted_format: str) -> list[InputFile]:
    """The input files a URL (a file, a folder or a glob) names, with sizes and times from
    the store's listing: nothing is downloaded."""
    root = to_path(pattern)
    fs, path = root.fs, root.path
    has_magic = glob.has_magic(path)
    matches = sorted(fs.glob(path)) if has_magic else ([path] if fs.exists(path) else [])
    if has_magic:  # as Python's glob does, a wildcard does not match hidden names
        matches = [m for m in matches if not m.rsplit("/", 1)[-1].startswith(".")]
    if not matches:
        what = "no file matches" if has_magic else "no such file or folder"
        raise GoldpanError(f"input.paths[{index}]: {what}: {pattern}")
    found: list[tuple[str, str]] = []  # (store path, format)
    for match in matches:
        if not fs.isdir(match):
            found.append((match, wanted_format if wanted_format not in ("auto", "text")
                          else format_of_name(match) or ""))
            continue
        inside = [(f, format_of_name(f) or "") for f in sorted(fs.find(match))
                  if not f.rsplit("/", 1)[-1].startswith(".")]
        has_text = any(kind == "text" for _, kind in inside) and wanted_format in ("auto", "text")
        inside = [(f, kind) for f, kind in inside
                  if kind and kind != "text" and wanted_format in ("auto", kind)]
        found += inside + ([(match, "textdir")] if has_text else [])
        if not inside and not has_text and not has_magic:
            raise GoldpanError(
                f"input.paths[{index}]: folder {pattern} holds no {wanted_format} input files"
            )
    files = []
    for store_path, fmt in found:
        if not fmt:
            raise GoldpanError(
                f"input: cannot tell the format of {fs.unstrip_protocol(store_path)}; set "
                "input.format (jsonl, parquet, hf, text or warc)"
            )
        info = fs.info(store_path)
        modified = info.get("LastModified") or info.get("mtime") or info.get("created") or 0
        mtime_ns = int(modified.timestamp() * 1e9) if hasattr(modified, "timestamp") else int(
            float(modified) * 1e9)
        files.append(InputFile(fs.unstrip_protocol(store_path), store_path, fmt,
                               int(info.get("size") or 0), mtime_ns))
    return files


def _relabel(files: list[InputFile]) -> list[InputFile]:
    """Labels relative to the URLs' common folder, as local files' are to theirs."""
    parents = [f.label.rsplit("/", 1)[0] if "/" in f.label else "" for f in files]
    base = os.path.commonpath(parents) if all(parents) else ""
    return [replace(f, label=f.label[len(base):].lstrip("/") if base else f.label)
            for f in files]


def _slots(index: int, count: str) -> InputFile:
    """Empty records for steps that make their own content (Magpie's instructions, AttrPrompt's
    prompts): ``count`` of them, ids ``slots-INDEX:N``."""
    if not str(count).isdigit() or int(count) < 1:
        raise GoldpanError(f"input.paths[{index}]: format slots takes a number of records, "
                           f"got {count!r}")
    return InputFile(f"slots:{count}", f"slots-{index}", "slots", int(count), 0)


def expand_inputs(paths: list[str], wanted_format: str = "auto") -> list[InputFile]:
    """Every input file, in a stable order; a pattern that matches nothing is an error."""
    if not paths:
        raise GoldpanError("input.paths: give at least one file, folder or glob")
    if wanted_format == "slots":
        return [_slots(index, count) for index, count in enumerate(paths)]
    if all(is_url(p) for p in paths):
        by_url = {f.path: f for i, p in enumerate(paths) for f in _url_files(p, i, wanted_format)}
        return _relabel([by_url[url] for url in sorted(by_url)])
    if any(is_url(p) for p in paths):
        raise GoldpanError("input.paths: give local paths or URLs, not both in one recipe")
    chosen: list[Path] = []
    for index, pattern in enumerate(paths):
        has_magic = glob.has_magic(pattern)
        matches = sorted(glob.glob(pattern, recursive=True)) if has_magic else [pattern]
        matches = [m for m in matches if os.path.exists(m)]
        if not matches:
            what = "no file matches" if has_magic else "no such file or folder"
            raise GoldpanError(f"input.paths[{index}]: {what}: {pattern}")
        for match in matches:
            path = Path(match)
            if path.is_dir():
                inside = _files_under(path, wanted_format)
                if not inside and has_magic:
                    continue
                if not inside:
                    raise GoldpanError(
                        f"input.paths[{index}]: folder {match} holds no {wanted_format} input files"
                    )
                chosen.extend(inside)
            else:
                chosen.append(path)
    unique = sorted({p.resolve() for p in chosen})
    if not unique:
        raise GoldpanError("input.paths: the patterns matched only folders without input files")
    base = Path(os.path.commonpath([str(p.parent) for p in unique]))
    files = []
    for path in unique:
        fmt = detect_format(path) if wanted_format in ("auto", "text") else wanted_format
        if fmt is None:
            raise GoldpanError(
                f"input: cannot tell the format of {path}; set input.format "
                "(jsonl, parquet, hf, text or warc)"
            )
        stat = path.stat()
        label = str(path.relative_to(base)) if path != base else path.name
        files.append(InputFile(str(path), label, fmt, stat.st_size, stat.st_mtime_ns))
    return files
