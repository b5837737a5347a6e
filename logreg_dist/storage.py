"""Writing an output whole: on a local disk by rename, on object storage by pointer.

Locally, an output (a model directory, a score output, a registry's
``latest``, the fit's checkpoint) is built under a fresh name beside its
place (:func:`make_staging` for a folder, :func:`write_file` for a file) and
moved over it by :func:`move_into_place`: readers see the old output or the
new one, never half of one, and a failure leaves the old one as it was.

Every path a command takes may also be an fsspec URL
(``s3://bucket/prefix``, ``gs://...``, ``abfs://...``; a local folder is given
as a path, not as ``file://``).
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

import contextlib
import datetime as dt
import errno
import json
import os
import re
import shutil
import socket
import tempfile
import uuid
from pathlib import Path

from .exceptions import InputError

__all__ = ["POINTER", "RUNS", "current_run", "discard", "filesystem", "is_url", "join", "make_staging", "move_into_place",
           "new_run", "publish", "published", "write_file"]

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


# -- local disk: build beside the place, then rename ----------------------------------------


def _owner() -> str:
    """Who builds a staging folder: ``host@pid``, part of its name so that a later run can tell it was abandoned."""
    return f"{socket.gethostname()}@{os.getpid()}"


def _sweep_abandoned(directory: Path) -> None:
    """Remove the staging and retired folders of ``directory`` that a process of this host left when it died.

    A run killed between creating its staging folder and moving it into place
    (SIGKILL, the machine's OOM killer) cannot clean up after itself. Only
    folders whose name says this host and a process that no longer exists are
    removed: another host's, or a live process's, may still be in use.
    """
    pattern = re.compile(rf"\.{re.escape(directory.name)}-(?:staging|old)@(?P<host>[^@/]+)@(?P<pid>\d+)-[^/]*")
    host = socket.gethostname()
    try:
        entries = list(os.scandir(directory.parent))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is not None and match["host"] == host and not _alive(int(match["pid"])):
            shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def make_staging(directory: Path) -> Path:
    """An empty folder beside ``directory`` to build its replacement in, with the usual (umask) permissions.

    Folders that earlier runs on this host left behind when they were killed are removed first.
    """
    _sweep_abandoned(directory)
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-staging@{_owner()}-", dir=directory.parent))
    except OSError as error:
        from .outputs import naming_output  # here: outputs imports this module

        naming_output(error, out=directory)
        raise
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)
    return staging


def move_into_place(staging: Path, target: Path) -> None:
    """Replace ``target`` by the complete ``staging`` beside it (a file, a symlink or a folder), never a half state.

    A file or a symlink, or a folder where nothing is yet, takes one rename. A
    folder over an existing one takes two (a rename cannot replace a folder
    that holds files); if the second fails, the previous ``target`` is put back.
    """
    if not (staging.is_dir() and not staging.is_symlink()) or not target.exists():
        os.replace(staging, target)
        return
    try:
        # An empty folder (a registry version just claimed by mkdir) is replaced in one rename: the name never
        # disappears, so a concurrent registration cannot claim the same number in between.
        os.replace(staging, target)
        return
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    retired = Path(tempfile.mkdtemp(prefix=f".{target.name}-old@{_owner()}-", dir=target.parent))
    os.replace(target, retired / target.name)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(retired / target.name, target)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def write_file(path: str | os.PathLike, content: str | bytes) -> None:
    """Write ``content`` to the file ``path`` whole or not at all: into a new file beside it, then one rename.

    The new file is made by :func:`tempfile.mkstemp` (readable by its owner
    only, and safe in a shared folder such as ``/tmp``); a failure removes it
    and leaves ``path`` as it was.
    """
    path = Path(path)
    handle, staging = tempfile.mkstemp(prefix=f".{path.name}-staging@{_owner()}-", dir=path.parent)
    try:
        with os.fdopen(handle, "wb" if isinstance(content, bytes) else "w") as out:
            out.write(content)
        move_into_place(Path(staging), path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
        raise
