"""Where a command may write: each output owns its place, and nothing else is ever replaced.

Every command that writes (``train --out``, ``score --out``, ``serve --out``,
``register --registry``, ``generate --out`` and ``demo``) asks
:func:`check_output` before any work starts. A path may be written when

- nothing is there, or an empty folder is;
- or it holds an earlier output of the same kind, and only that:

  ========== ==============================================================
  kind       what it holds
  ========== ==============================================================
  model      ``model.json`` of format ``logreg-dist-model``, and possibly
             ``metrics.json`` and ``report.html``
  scores     ``_summary.json`` of a scoring run and ``part-NNNNN.parquet``
  registry   numbered version folders, ``latest``, ``.latest.lock`` (a
             registry is added to, never replaced)
  generated  nothing: ``generate`` writes only into a missing or empty folder
  ========== ==============================================================

On object storage (an fsspec URL, see :mod:`logreg_dist.storage`) a model
directory or score output is a pointer ``_CURRENT`` and its runs under
``.runs/`` (or only ``.runs/``, when no run has been published yet); a
registry holds numbered versions (each a model directory) and a ``latest``
object; ``generate`` writes only to local folders.

And, whatever it holds, it is not the working folder (or one above it), not
an input, not inside an input folder and, but for a registry (registering one
of its own versions again is a rollback), not a folder that holds an input.
Anything else is refused with an
:class:`~logreg_dist.exceptions.InputError` naming the path and what it
holds. The writers (:func:`~logreg_dist.model.write_atomic_dir`,
:func:`~logreg_dist.scoring.score_to_parquet`,
:func:`~logreg_dist.registry.register`, :func:`~logreg_dist.synth.generate`)
ask again, as the last line of defence for callers of the library.

:func:`naming_output` turns an OSError about the staging folder an output is
built in (a read-only parent, a full disk) into one that names the user's path.
"""

from __future__ import annotations

import glob
import json
import os
import re
from pathlib import Path

from .exceptions import InputError
from .storage import POINTER, RUNS, current_run, filesystem, is_url, join

__all__ = ["KINDS", "check_output", "naming_output"]

#: The files a model directory holds: ``Model.save`` writes model.json, the training flow adds the other two.
MODEL_FILES = frozenset({"model.json", "metrics.json", "report.html"})
# Repeated from model.py and scoring.py, which import this module (a test checks that they agree).
MODEL_FORMAT = "logreg-dist-model"  # logreg_dist.model.FORMAT
SUMMARY_FILE = "_summary.json"  # logreg_dist.scoring.SUMMARY_FILE
PART_FILE = re.compile(r"part-\d{5}\.parquet")
# What model.write_atomic_dir and registry leave inside a registry while they run: staging and retired
# folders of a version (".3-staging@host@pid-…", ".3-old@host@pid-…"), the lock, a pointer being swapped.
REGISTRY_WORK = re.compile(r"\.(?:\d+-(?:staging|old)@.+|latest\.lock|latest-.+)")

_RULES = {
    "model": ("a model", "only a missing path, an empty folder or an earlier model directory (model.json of format "
              f"{MODEL_FORMAT!r}, metrics.json, report.html) is replaced"),
    "scores": ("scores", f"only a missing path, an empty folder or an earlier score output ({SUMMARY_FILE} and "
               "part-NNNNN.parquet files) is replaced"),
    "registry": ("a registry", "versions are added only to a missing path, an empty folder or a registry (numbered "
                 "version folders and latest)"),
    "generated": ("generated data", "data is generated only into a missing path or an empty folder"),
}
KINDS = tuple(_RULES)
_HOLDS = {"model": "a logreg-dist model", "scores": "logreg-dist scores", "registry": "a logreg-dist registry",
          "generated": "Parquet part files"}


def check_output(path: str | os.PathLike, *, kind: str, inputs: tuple | list = (),
                 storage_options: dict | None = None) -> Path | str:
    """Refuse ``path`` as the output of ``kind`` unless it may be replaced (see the module docstring).

    Parameters
    ----------
    path : str or PathLike
        The output the user named: a folder to be written whole (or, for a registry, added to).
    kind : {"model", "scores", "registry", "generated"}
        What will be written there.
    inputs : sequence of str or PathLike
        What the command reads: Parquet files, folders or globs, model directories; None entries are skipped.
    storage_options : dict, optional
        For an fsspec URL: the options its filesystem is opened with.

    Returns
    -------
    Path or str
        ``path`` resolved (symlinks followed), where the writer writes; a URL as given.

    Raises
    ------
    InputError
        Naming ``path``, what it holds and the rule, before anything is written.
    """
    if kind not in _RULES:
        raise ValueError(f"kind must be one of {KINDS}; got {kind!r}.")
    if is_url(path):
        return _check_url(str(path), kind=kind, inputs=inputs, storage_options=storage_options)
    target = Path(path).expanduser().resolve()
    shown = str(path) if str(path) == str(target) else f"{path} ({target})"
    noun, rule = _RULES[kind]

    def refuse(holds: str) -> InputError:
        return InputError(f"refusing to write {noun} to {shown}: it {holds}; {rule}.")

    for text, source in _resolved_inputs(inputs):
        if source == target:
            raise refuse(f"is the input {text}")
        if target in source.parents and kind != "registry":  # registering a version of the registry again is a rollback
            raise refuse(f"holds the input {text}")
        if source in target.parents and source.is_dir():
            raise refuse(f"is inside the input folder {text}")
    working = Path.cwd().resolve()
    if target == working or target in working.parents:
        raise refuse("is the working folder" if target == working else f"holds the working folder {working}")
    existing = next(p for p in (target, *target.parents) if p.exists() or p.is_symlink())
    if existing != target:
        if not existing.is_dir():
            raise refuse(f"would be made inside {existing}, which is a file")
        return target
    if not target.is_dir():
        raise refuse(f"is a file ({target.stat().st_size if target.exists() else 0:,} bytes), not a folder")
    try:
        names = sorted(os.listdir(target))
    except OSError as error:
        raise refuse(f"cannot be listed ({error.strerror})") from error
    if not names:
        return target
    found = _kind_of(target, names)
    if kind == "generated":
        raise refuse(f"exists and is not empty (holds {_HOLDS[found] + ': ' if found else ''}{_some(names)})")
    if found == kind:
        return target
    if found is not None:
        raise refuse(f"holds {_HOLDS[found]} ({_some(names)})")
    raise refuse(f"holds {_some(names)}, which are not the files of {_HOLDS[kind]}")


def _check_url(url: str, *, kind: str, inputs, storage_options: dict | None) -> str:
    """:func:`check_output` of an fsspec URL: the same rules on the object store's listing."""
    noun, rule = _RULES[kind]

    def refuse(holds: str) -> InputError:
        return InputError(f"refusing to write {noun} to {url}: it {holds}; {rule}.")

    if kind == "generated":
        raise refuse("is an object-storage URL, and generate writes only to a local folder (upload it afterwards)")
    fs, target = filesystem(url, storage_options)
    target = target.rstrip("/")
    for given in inputs:
        if given is None or not is_url(given) or str(given).split("://", 1)[0] != url.split("://", 1)[0]:
            continue  # a local input, or another store, cannot be the output
        text = str(given)
        pattern = filesystem(text, storage_options)[1].rstrip("/")
        for source in fs.glob(pattern) if any(ch in pattern for ch in "*?[") else [pattern]:
            source = source.rstrip("/")
            label = text if source == pattern else f"{fs.unstrip_protocol(source)} (matched by {text})"
            if source == target:
                raise refuse(f"is the input {label}")
            if source.startswith(target + "/") and kind != "registry":  # as for local paths: a rollback
                raise refuse(f"holds the input {label}")
            if target.startswith(source + "/") and fs.isdir(source):
                raise refuse(f"is inside the input folder {label}")
    fs.invalidate_cache(target)
    if fs.isfile(target):
        raise refuse(f"is an object ({fs.size(target):,} bytes), not a folder")
    try:
        entries = fs.ls(target, detail=True)
    except FileNotFoundError:
        return url
    names = sorted(entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in entries)
    if not names:
        return url
    found = _kind_of_url(fs, target, entries)
    if found == kind or (found == "unpublished" and kind in ("model", "scores")):
        return url
    if found not in (None, "unpublished"):
        raise refuse(f"holds {_HOLDS[found]} ({_some(names)})")
    raise refuse(f"holds {_some(names)}, which are not the files of {_HOLDS[kind]}")


def _kind_of_url(fs, folder: str, entries: list[dict]) -> str | None:
    """:func:`_kind_of` on object storage; "unpublished" for an output whose first run never published."""
    kinds = {entry["name"].rstrip("/").rsplit("/", 1)[-1]: entry["type"] for entry in entries}
    if set(kinds) <= {POINTER, RUNS}:
        try:
            run = current_run(fs, folder)
        except InputError:
            return None
        if run is None:
            return "unpublished" if kinds.get(RUNS) == "directory" else None
        if _json_at(fs, join(run, "model.json"), "format") == MODEL_FORMAT:
            return "model"
        return "scores" if _json_at(fs, join(run, SUMMARY_FILE), "deciles") is not None else None
    if all(kind == "file" for kind in kinds.values()):
        if set(kinds) <= MODEL_FILES and _json_at(fs, join(folder, "model.json"), "format") == MODEL_FORMAT:
            return "model"
        if all(PART_FILE.fullmatch(n) for n in kinds if n != SUMMARY_FILE) and SUMMARY_FILE in kinds:
            return "scores" if _json_at(fs, join(folder, SUMMARY_FILE), "deciles") is not None else None
    if all((name.isdigit() and kind == "directory") or (name == "latest" and kind == "file") for name, kind in kinds.items()):
        return "registry"
    return None


def _json_at(fs, path: str, key: str):
    """:func:`_json_field` of the object at ``path`` on the fsspec filesystem ``fs``."""
    try:
        document = json.loads(fs.cat_file(path))
    except (OSError, ValueError):
        return None
    return document.get(key) if isinstance(document, dict) else None


def _resolved_inputs(inputs) -> list[tuple[str, Path]]:
    """``(what to call it, resolved path)`` for every existing path an input names (globs expanded)."""
    found = []
    for given in inputs:
        if given is None or is_url(given):  # a URL cannot be a local output
            continue
        text = str(given)
        matches = sorted(glob.glob(text)) if any(ch in text for ch in "*?[") else [text]
        for match in matches:
            if os.path.exists(match):
                label = match if match == text else f"{match} (matched by {text})"
                found.append((label, Path(match).expanduser().resolve()))
    return found


def _kind_of(folder: Path, names: list[str]) -> str | None:
    """Which of our outputs the non-empty ``folder`` holds (its entries are ``names``), or None."""
    entries = {name: folder / name for name in names}
    if all(p.is_file() and not p.is_symlink() for p in entries.values()):
        if set(names) <= MODEL_FILES and _json_field(entries.get("model.json"), "format") == MODEL_FORMAT:
            return "model"
        parts = [n for n in names if n != SUMMARY_FILE]
        if all(PART_FILE.fullmatch(n) for n in parts):
            if SUMMARY_FILE not in entries:
                return "generated"
            if _json_field(entries[SUMMARY_FILE], "deciles") is not None:
                return "scores"
    if all(_registry_entry(name, p) for name, p in entries.items()):
        return "registry"
    return None


def _registry_entry(name: str, path: Path) -> bool:
    """Whether ``name`` in a folder is what a registry holds; a concurrent registration may be changing it."""
    if REGISTRY_WORK.fullmatch(name):
        return True
    try:
        if name == "latest":
            return os.readlink(path).isdigit()
        if name.isdigit():  # a version: claimed (empty) or written (a model)
            if not os.path.lexists(path):
                raise FileNotFoundError(path)
            return path.is_dir() and not path.is_symlink() and (not os.listdir(path) or (path / "model.json").is_file())
    except FileNotFoundError:
        # Listed a moment ago and gone: a concurrent registration is swapping it (a version folder for its
        # staging folder, latest for a new pointer), which only happens in a registry.
        return True
    except OSError:  # latest is not a symlink
        return False
    return False


def _json_field(file: Path | None, key: str):
    """``document[key]`` of the JSON object in ``file``, or None if it is absent, unreadable or not an object."""
    if file is None:
        return None
    try:
        document = json.loads(file.read_text())
    except (OSError, ValueError):
        return None
    return document.get(key) if isinstance(document, dict) else None


def _some(names: list[str], k: int = 4) -> str:
    shown = ", ".join(names[:k])
    return shown if len(names) <= k else f"{shown} and {len(names) - k} more"


def naming_output(error: BaseException, *, out: Path) -> None:
    """If ``error`` is an OSError about the staging or retired folder of ``out``, raise one that names ``out``.

    The user named ``out``; a read-only parent or a full disk is reported by
    the system on the hidden folder beside it that the output is built in
    (``.out-staging@host@pid-…``), a name they never chose. Other errors are
    left to the caller to re-raise.
    """
    if not isinstance(error, OSError):
        return
    internal = re.compile(rf"(?:[^\s'\"]*/)?\.{re.escape(out.name)}-(?:staging|old)@[^/\s'\"]*(?:/{re.escape(out.name)})?")
    text = str(error)
    if not internal.search(text):
        return
    detail = error.strerror if error.strerror else internal.sub(str(out), text)
    renamed = type(error)(f"cannot write {out}: {detail}.")
    renamed.errno = error.errno
    raise renamed from error
