"""A model registry in a folder: versions ``1``, ``2``, ... and a ``latest`` pointer switched atomically.

::

    registry/
      1/model.json ...
      2/model.json ...
      latest -> 2        (a symlink, replaced by one rename: readers see the old or the new, never none)
      .latest.lock       (held while ``latest`` is switched: it only ever moves to a newer version)

Concurrent registrations each claim their own number (``mkdir`` of the next
one), and ``latest`` ends at the newest whatever order they finish in.

A registry holds the versions of one model: a model of another target (or
positive label) than ``latest``'s is refused, since whatever rescores
``latest`` on a schedule would silently start predicting something else.
Every registration makes a new version, as in MLflow's registry, even of a
model registered before (registering an older version again is a rollback).

At an fsspec URL (``s3://...``) the same layout holds, without rename or
symlink: each version is a model directory published by its pointer
(:mod:`logreg_dist.storage`), and ``latest`` is a small object holding the
version number, written (one PUT) only once the version is complete. Object
stores have no ``mkdir`` that fails when the folder exists, so registrations
into one such registry must not run concurrently.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from .exceptions import InputError
from .model import MODEL_FILE, SWAPPED, load_model, write_atomic_dir
from .outputs import check_output
from .storage import POINTER, filesystem, is_url, join, move_into_place, published

__all__ = ["changes_from_latest", "latest", "register", "resolve", "versions"]

LATEST = "latest"


def versions(registry: str | os.PathLike, *, storage_options: dict | None = None) -> list[int]:
    """The registered versions, in order (at a URL: the published ones)."""
    if is_url(registry):
        fs, root = filesystem(str(registry), storage_options)
        fs.invalidate_cache(root)
        try:
            names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)]
        except FileNotFoundError:
            return []
        return sorted(int(n) for n in names if n.isdigit() and fs.exists(join(root, n, POINTER)))
    root = Path(registry)
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit()) if root.exists() else []


def register(model_dir: str | os.PathLike, registry: str | os.PathLike, *, storage_options: dict | None = None) -> int:
    """Copy the model directory into ``registry`` as the next version, point ``latest`` at it, return the version.

    ``registry`` must be missing, empty or a registry
    (:func:`~logreg_dist.outputs.check_output`); a model that does not load
    (corrupt, a null coefficient, lists of the wrong length) is refused, and
    ``latest`` is left as it was. Either may be an fsspec URL, opened with
    ``storage_options``.
    """
    if is_url(registry) or is_url(model_dir):
        return _register_url(str(model_dir), str(registry), storage_options)
    source = Path(model_dir)
    root = check_output(registry, kind="registry", inputs=[model_dir])
    changes_from_latest(load_model(source), root)  # refuses a model of another target
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


def _model_files(model_dir: str, storage_options: dict | None) -> dict[str, bytes]:
    """The files of the model directory at ``model_dir`` (a path or a URL, its pointer followed), by name."""
    if not is_url(model_dir):
        return {path.name: path.read_bytes() for path in Path(model_dir).iterdir() if path.is_file()}
    fs, folder = filesystem(published(model_dir, storage_options), storage_options)
    return {p.rstrip("/").rsplit("/", 1)[-1]: fs.cat_file(p) for p in fs.ls(folder, detail=False) if fs.isfile(p)}


def _register_url(model_dir: str, registry: str, storage_options: dict | None) -> int:
    """:func:`register` where the registry or the model is at a URL; a local registry keeps its lock and symlink."""
    check_output(registry, kind="registry", inputs=[model_dir], storage_options=storage_options)
    model_dir = str(resolve(model_dir, storage_options=storage_options))  # a version, or registry/latest: a rollback
    model = load_model(model_dir, storage_options=storage_options)  # refuse anything that is not a consistent model
    files = _model_files(model_dir, storage_options)
    if not is_url(registry):
        # A URL model into a local registry: register a local copy, the one way local versions are made.
        with tempfile.TemporaryDirectory() as copy:
            for name, content in files.items():
                Path(copy, name).write_bytes(content)
            return register(copy, registry)
    changes_from_latest(model, registry, storage_options=storage_options)  # refuses a model of another target
    version = (versions(registry, storage_options=storage_options) or [0])[-1] + 1
    document = json.loads(files[MODEL_FILE])
    document["version"] = str(version)
    files[MODEL_FILE] = json.dumps(document, indent=2).encode()
    write_atomic_dir(join(registry, str(version)), files, storage_options=storage_options)
    fs, root = filesystem(registry, storage_options)
    current = latest(registry, storage_options=storage_options)
    if current is None or current < version:
        fs.pipe_file(join(root, LATEST), str(version).encode())
    return version


def changes_from_latest(model, registry: str | os.PathLike, *, storage_options: dict | None = None) -> dict:
    """How ``model`` (a :class:`~logreg_dist.model.Model`) differs from the registry's ``latest`` version: a dict of
    ``latest`` (its number, None in an empty registry), ``identical`` (the same model, the version number aside),
    ``added`` and ``dropped`` (input columns), ``id_column`` (``(before, after)`` where it changed) and
    ``contact`` (``(before, after)``, whether each has a threshold, where that changed: the scores' ``contact``
    column comes and goes with it).

    Raises :class:`~logreg_dist.exceptions.InputError` when ``model`` predicts another target or positive label.
    """
    current = latest(registry, storage_options=storage_options)
    if current is None:
        return {"latest": None, "identical": False, "added": [], "dropped": [], "id_column": None, "contact": None}
    before = load_model(join(str(registry), str(current)) if is_url(registry) else Path(registry) / str(current),
                        storage_options=storage_options)
    old, new = before.preparation, model.preparation
    if (old.target, str(old.positive_label)) != (new.target, str(new.positive_label)):
        raise InputError(
            f"the registry {registry} holds models of {old.target} = {old.positive_label!r} (latest: version "
            f"{current}); this model predicts {new.target} = {new.positive_label!r}. A registry holds one model's "
            "versions, and whatever rescores its latest would start predicting something else: register this model "
            "in a registry of its own."
        )
    same = {**before.to_dict(), "version": None} == {**model.to_dict(), "version": None}
    return {"latest": current, "identical": same, "added": [c for c in new.inputs if c not in old.inputs],
            "dropped": [c for c in old.inputs if c not in new.inputs],
            "id_column": None if old.id_column == new.id_column else (old.id_column, new.id_column),
            "contact": None if (before.threshold is None) == (model.threshold is None)
            else (before.threshold is not None, model.threshold is not None)}


def latest(registry: str | os.PathLike, *, storage_options: dict | None = None) -> int | None:
    """The version ``latest`` of ``registry`` names, or None before the first registration."""
    if not is_url(registry):
        target = os.readlink(Path(registry) / LATEST) if os.path.lexists(Path(registry) / LATEST) else None
        return int(target) if target is not None and target.isdigit() else None
    fs, root = filesystem(str(registry), storage_options)
    try:
        text = fs.cat_file(join(root, LATEST)).decode().strip()
    except FileNotFoundError:
        return None
    if not text.isdigit():
        raise InputError(f"the registry pointer {join(str(registry), LATEST)} is corrupt: it must hold a version "
                         f"number; got {text[:40]!r}.")
    return int(text)


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
        pointer = Path(tempfile.mktemp(prefix=".latest-", dir=root))  # a name for os.symlink to create
        os.symlink(str(version), pointer)
        move_into_place(pointer, root / LATEST)


def resolve(path: str | os.PathLike, *, storage_options: dict | None = None) -> Path | str:
    """A model directory, following ``registry/latest``; a registry folder itself means its latest version.

    At a URL the pointer object ``latest`` is followed the same way, and the
    model directory's URL is returned (:func:`~logreg_dist.model.load_model`
    follows its own pointer).
    """
    if is_url(path):
        return _resolve_url(str(path), storage_options)
    path = Path(path)
    if (path / LATEST).exists() and not (path / MODEL_FILE).exists():
        path = path / LATEST
    if not (path / MODEL_FILE).exists() and not path.is_file():
        if path.is_dir() and any(path.glob("*.parquet")):
            raise InputError(f"{path} holds Parquet data, not a model; {SWAPPED}")
        raise InputError(f"no model at {path}: expected a model directory with {MODEL_FILE} or a registry folder.")
    return path.resolve()


def _resolve_url(url: str, storage_options: dict | None) -> str:
    """:func:`resolve` of an fsspec URL."""
    fs, path = filesystem(url, storage_options)
    url, path = url.rstrip("/"), path.rstrip("/")
    if path.rsplit("/", 1)[-1] == LATEST and fs.isfile(path):
        url = join(url.rsplit("/", 1)[0], str(latest(url.rsplit("/", 1)[0], storage_options=storage_options)))
    elif fs.isfile(join(path, LATEST)) and not fs.exists(join(path, POINTER)) and not fs.exists(join(path, MODEL_FILE)):
        url = join(url, str(latest(url, storage_options=storage_options)))
    fs, path = filesystem(published(url, storage_options), storage_options)
    if not fs.isfile(path) and not fs.isfile(join(path, MODEL_FILE)):
        raise InputError(f"no model at {url}: expected a model directory with {MODEL_FILE} or a registry folder.")
    return url
