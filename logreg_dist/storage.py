"""A location on object storage: an fsspec URL, the filesystem behind it, and publishing by pointer.

Every path a command takes may be a local path or an fsspec URL
(``s3://bucket/prefix``, ``gs://...``, ``abfs://...``; a local folder is given
as a path, not as ``file://``). Local paths keep the rename-based writes of
:func:`~logreg_dist.model.write_atomic_dir`; this module is used only for URLs.
Credentials and the endpoint come from the usual environment
(``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, which
botocore reads) or, in Python, from ``storage_options``, passed to
:func:`fsspec.core.url_to_fs` as they are.

Object stores cannot rename a folder, so an output (a model directory, a score
output, a registry version) is published by pointer::

    s3://bucket/scores/
      .runs/20261202T142300123456Z-3f9a1c2e/part-00000.parquet ... _summary.json
      _CURRENT          {"format": "logreg-dist-pointer", "run": ".runs/20261202T142300123456Z-3f9a1c2e"}

A run writes everything under its own prefix, then writes the one small
object ``_CURRENT`` (a single PUT, which object stores make visible whole).
Readers follow the pointer: they see the previous run or the new one, never a
half-written one; a run that fails before the pointer is written leaves the
previous output as it was. After publishing, the runs that started before the one just
replaced are deleted; the replaced one is kept so that a reader that followed
the old pointer a moment ago can finish. Two runs writing the same output at
once are not supported on object storage: the later pointer wins, and a run
that started before the replaced one may be swept while it writes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid

from .exceptions import InputError

__all__ = ["POINTER", "RUNS", "current_run", "discard", "filesystem", "is_url", "join", "new_run", "publish", "published"]

#: The object that names the published run of an output.
POINTER = "_CURRENT"
#: The prefix, inside an output, under which each run writes.
RUNS = ".runs"
POINTER_FORMAT = "logreg-dist-pointer"


def is_url(path) -> bool:
    """Whether ``path`` is an fsspec URL of a remote filesystem (``s3://``, ``gs://``...), not a local path."""
    text = os.fspath(path) if isinstance(path, os.PathLike) else path
    if not isinstance(text, str) or "://" not in text:
        return False
    return text.split("://", 1)[0] not in ("", "file", "local")


def filesystem(url: str, storage_options: dict | None = None):
    """``(filesystem, path)`` for ``url``: the fsspec filesystem and the path within it, without the protocol."""
    from fsspec.core import url_to_fs

    try:
        return url_to_fs(url, **(storage_options or {}))
    except ImportError as error:  # s3fs is a dependency; gcsfs and adlfs come with the extra [cloud]
        raise InputError(f"cannot open {url}: {error} (gs:// and abfs:// need pip install 'logreg-dist[cloud]').") from error


def join(url: str, *names: str) -> str:
    """``url`` with ``names`` appended, separated by single slashes."""
    return "/".join([url.rstrip("/"), *(name.strip("/") for name in names)])


def current_run(fs, path: str) -> str | None:
    """The path of the run the pointer of the output at ``path`` names, or None when it has no pointer."""
    try:
        document = json.loads(fs.cat_file(join(path, POINTER)))
    except FileNotFoundError:
        return None
    except ValueError as error:
        raise InputError(f"the pointer {join(path, POINTER)} is corrupt: not valid JSON ({error}).") from error
    run = document.get("run") if isinstance(document, dict) else None
    if not isinstance(run, str) or document.get("format") != POINTER_FORMAT or not run.startswith(RUNS + "/"):
        raise InputError(f"the pointer {join(path, POINTER)} is corrupt: expected {{'format': {POINTER_FORMAT!r}, "
                         f"'run': '{RUNS}/...'}}; got {document!r}.")
    return join(path, run)


def published(url: str, storage_options: dict | None = None) -> str:
    """The URL a reader reads for the output at ``url``: its published run if it has a pointer, else ``url``."""
    fs, path = filesystem(url, storage_options)
    run = current_run(fs, path)
    return url if run is None else join(url, run[len(path.rstrip("/")) + 1 :])


def new_run(fs, path: str) -> str:
    """The path of a fresh, run-specific prefix inside the output at ``path`` (nothing is written yet)."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")  # sorts by start time
    return join(path, RUNS, f"{stamp}-{uuid.uuid4().hex[:8]}")


def publish(fs, path: str, run: str) -> None:
    """Point the output at ``path`` to its complete run ``run``, then delete runs that started before the one replaced.

    The pointer is one small object written with one request; until it is,
    readers see the previous run.
    """
    previous = current_run(fs, path)
    relative = run[len(path.rstrip("/")) + 1 :]
    fs.pipe_file(join(path, POINTER), json.dumps({"format": POINTER_FORMAT, "run": relative}).encode())
    if previous is None:
        return
    # Run names start with their UTC start time. One that started after the replaced run may still be writing (a
    # failed run's late part, another writer's run), so it is left for a later publish.
    replaced = previous.rstrip("/").rsplit("/", 1)[-1]
    fs.invalidate_cache(join(path, RUNS))
    try:
        for old in fs.ls(join(path, RUNS), detail=False):
            name = old.rstrip("/").rsplit("/", 1)[-1]
            if name < replaced and old.rstrip("/") != run.rstrip("/"):
                fs.rm(old, recursive=True)
    except OSError:  # the output is published; old runs that stay take space, no reader sees them
        pass


def discard(fs, run: str) -> None:
    """Delete what a failed run wrote under its prefix, as far as the store lets us (the pointer never named it)."""
    try:
        fs.rm(run, recursive=True)
    except (OSError, ValueError):
        pass
