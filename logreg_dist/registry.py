"""A model registry in a folder: versions ``1``, ``2``, ... and a ``latest`` pointer switched atomically.

::

    registry/
      1/model.json ...
      2/model.json ...
      latest -> 2        (a symlink, replaced with os.replace: readers see the old or the new, never none)
      .latest.lock       (held while ``latest`` is switched: it only ever moves to a newer version)

Concurrent registrations each claim their own number (``mkdir`` of the next
one), and ``latest`` ends at the newest whatever order they finish in.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .exceptions import InputError
from .model import MODEL_FILE, load_model, write_atomic_dir
from .outputs import check_output

__all__ = ["register", "resolve", "versions"]

LATEST = "latest"


def versions(registry: str | os.PathLike) -> list[int]:
    """The registered versions, in order."""
    root = Path(registry)
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.exists() else []


def register(model_dir: str | os.PathLike, registry: str | os.PathLike) -> int:
    """Copy the model directory into ``registry`` as the next version, point ``latest`` at it, return the version.

    ``registry`` must be missing, empty or a registry
    (:func:`~logreg_dist.outputs.check_output`); a model that does not load
    (corrupt, a null coefficient, lists of the wrong length) is refused, and
    ``latest`` is left as it was.
    """
    source = Path(model_dir)
    root = check_output(registry, kind="registry", inputs=[model_dir])
    load_model(source)  # refuse anything that is not a readable, consistent model
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    for path in source.iterdir():
        if path.is_file():
            files[path.name] = path.read_bytes()
    document = json.loads(files[MODEL_FILE])
    while True:
        version = (versions(root) or [0])[-1] + 1
        target = root / str(version)
        try:
            target.mkdir()  # claims the number; a concurrent registration takes the next one
            break
        except FileExistsError:
            continue
    document["version"] = str(version)
    files[MODEL_FILE] = json.dumps(document, indent=2).encode()
    try:
        write_atomic_dir(target, files)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    _point_latest_at(root, version)
    return version


def _point_latest_at(root: Path, version: int) -> None:
    """Switch ``latest`` to ``version`` unless a concurrent registration already set a newer one.

    The check and the switch hold an exclusive lock on ``root/.latest.lock``,
    so two registrations finishing out of order still leave ``latest`` at the
    newest version.
    """
    import fcntl

    with open(root / ".latest.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = os.readlink(root / LATEST)
        except OSError:
            current = None
        if current is not None and current.isdigit() and int(current) > version:
            return
        pointer = Path(tempfile.mktemp(prefix=".latest-", dir=root))
        os.symlink(str(version), pointer)
        os.replace(pointer, root / LATEST)


def resolve(path: str | os.PathLike) -> Path:
    """A model directory, following ``registry/latest``; a registry folder itself means its latest version."""
    path = Path(path)
    if (path / LATEST).exists() and not (path / MODEL_FILE).exists():
        path = path / LATEST
    if not (path / MODEL_FILE).exists() and not path.is_file():
        raise InputError(f"no model at {path}: expected a model directory with {MODEL_FILE} or a registry folder.")
    return path.resolve()
