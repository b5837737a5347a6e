"""Reading a data set: Parquet files, folders of them, or globs, as a lazy Dask DataFrame."""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .exceptions import InputError
from .storage import current_run, filesystem, is_url

__all__ = ["PARTITION_ROWS", "read_table"]


#: A file with more rows than this is read as several partitions, a run of row groups each.
PARTITION_ROWS = 1_000_000


def read_table(path: str | os.PathLike, columns: list[str] | None = None, *, storage_options: dict | None = None):
    """A lazy Dask DataFrame of the Parquet at ``path``: a file, a folder of files, or a glob; local or an fsspec
    URL (``s3://...``, opened with ``storage_options``; a score output's pointer is followed, see
    :mod:`logreg_dist.storage`).

    Plain files (a file, a glob, or a folder holding only Parquet files) are
    read with ``pyarrow.parquet`` directly, one partition per file (or per
    run of row groups of about ``PARTITION_ROWS`` rows), with column
    projection. Before any row is read, every file's schema is checked against
    the first file's: the same columns, with compatible types (numbers of any
    width, or text of any Arrow encoding; a column all null in one file, as
    pandas writes a column of None, takes the others' type); the first
    difference is an :class:`InputError` naming the file, the column and
    both types. Columns
    whose types differ compatibly are read as one common type, and decimals
    as float64, so every partition agrees with the frame's meta. Folders of
    folders (hive partitioning) go to ``dask.dataframe.read_parquet``.
    """
    import dask.dataframe as dd

    text = str(path)
    fs, matches = _matches(text, storage_options)
    if not matches:
        raise InputError(f"no Parquet data at {text}: no such file, folder or glob match.")
    files = _plain_files(sorted(matches), fs)
    if files == []:
        raise InputError(f"no Parquet files in {text}.")
    if files is None:  # folders of folders: Dask's reader adds the partition columns
        try:
            return dd.read_parquet(matches if len(matches) > 1 else matches[0], columns=columns,
                                   **({} if fs is None else {"storage_options": storage_options}))
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read Parquet at {text}: {error}") from error
    pieces, layout = _pieces(files, fs)
    # The workers open URLs themselves: they get the caller's storage_options (else their own environment).
    frame = dd.from_map(_read_piece, pieces, args=[layout, storage_options], meta=layout.meta(), label="read-parquet",
                        enforce_metadata=False)
    return frame if columns is None else frame[list(columns)]


def _matches(text: str, storage_options: dict | None) -> tuple:
    """``(fsspec filesystem or None for local, the existing paths text names)``; URLs come back as URLs, a score
    output's pointer followed."""
    if not is_url(text):
        return None, glob.glob(text) if any(ch in text for ch in "*?[") else [text] if Path(text).exists() else []
    fs, path = filesystem(text, storage_options)
    if any(ch in path for ch in "*?["):
        return fs, [fs.unstrip_protocol(match) for match in fs.glob(path)]
    run = current_run(fs, path)
    if run is not None:
        return fs, [fs.unstrip_protocol(run)]
    return fs, [text] if fs.exists(path) else []


def _plain_files(matches: list[str], fs=None) -> list[str] | None:
    """The Parquet files behind ``matches``, or None when a folder holds folders (hive partitioning)."""
    if fs is not None:
        return _plain_urls(matches, fs)
    files = []
    for match in matches:
        if not os.path.isdir(match):
            files.append(match)
            continue
        for entry in sorted(os.scandir(match), key=lambda e: e.name):
            if entry.name.startswith(("_", ".")):  # _SUCCESS, _metadata, our _summary.json, hidden files
                continue
            if entry.is_dir():
                return None
            files.append(entry.path)
    return files


def _plain_urls(matches: list[str], fs) -> list[str] | None:
    """:func:`_plain_files` of URLs on the fsspec filesystem ``fs``."""
    files = []
    for match in matches:
        path = fs._strip_protocol(match)
        if not fs.isdir(path):
            files.append(match)
            continue
        for entry in sorted(fs.ls(path, detail=True), key=lambda e: e["name"]):
            name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
            if name.startswith(("_", ".")):  # as for local folders
                continue
            if entry["type"] == "directory":
                return None
            files.append(fs.unstrip_protocol(entry["name"]))
    return files


@dataclass(frozen=True)
class _Layout:
    """The columns every partition has, in order, and the Arrow type some of them are cast to on reading."""

    schema: object  # pyarrow.Schema of the first file, its types replaced by the common ones
    casts: tuple  # (column, pyarrow.DataType) where some file's type differs from the common one

    def meta(self) -> pd.DataFrame:
        return self.schema.empty_table().to_pandas(date_as_object=False)


def _pieces(files: list[str], fs=None) -> tuple[list, _Layout]:
    """``(path, row_groups or None)`` per partition, and the layout all of them are read into.

    Every file's metadata is read here, on the client, so a data set whose files
    disagree is refused before any work starts.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    pieces, schemas = [], []
    for file in files:
        try:
            metadata = pq.read_metadata(file) if fs is None else pq.read_metadata(fs._strip_protocol(file), filesystem=fs)
            schemas.append(metadata.schema.to_arrow_schema())
        except (OSError, ValueError, pa.ArrowException) as error:  # a damaged footer, or not Parquet at all
            raise InputError(f"cannot read Parquet file {file}: {error}{_text_hint(file)}") from error
        if metadata.num_rows <= PARTITION_ROWS or metadata.num_row_groups <= 1:
            pieces.append((file, None))
            continue
        run, rows = [], 0
        for group in range(metadata.num_row_groups):
            run.append(group)
            rows += metadata.row_group(group).num_rows
            if rows >= PARTITION_ROWS:
                pieces.append((file, tuple(run)))
                run, rows = [], 0
        if run:
            pieces.append((file, tuple(run)))
    return pieces, _layout(files, schemas)


def _data_columns(schema) -> list[str]:
    """The columns of ``schema`` without the ones pandas stored its index in."""
    index = {c for c in (schema.pandas_metadata or {}).get("index_columns", []) if isinstance(c, str)}
    return [name for name in schema.names if name not in index]


def _kind(arrow_type) -> str:
    """The family within which types are compatible: "number", "text", "null", or the type itself."""
    import pyarrow as pa

    if pa.types.is_dictionary(arrow_type):
        return "text" if _kind(arrow_type.value_type) == "text" else str(arrow_type)
    if any(test(arrow_type) for test in (pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean, pa.types.is_decimal)):
        return "number"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    return "null" if pa.types.is_null(arrow_type) else str(arrow_type)


def _layout(files: list[str], schemas: list) -> _Layout:
    """Check that every file has the first file's columns with compatible types; the common types."""
    first, first_columns = schemas[0], _data_columns(schemas[0])
    for file, schema in zip(files[1:], schemas[1:]):
        columns = _data_columns(schema)
        lacking = [c for c in first_columns if c not in columns]
        if lacking:
            raise InputError(
                f"{file} lacks column {lacking[0]!r}, which the first file {files[0]} has; every file of a data set "
                "must have the same columns."
            )
        extra = [c for c in columns if c not in first_columns]
        if extra:
            raise InputError(
                f"{file} has column {extra[0]!r}, which the first file {files[0]} lacks; every file of a data set "
                "must have the same columns."
            )
        for name in first_columns:
            ours, theirs = first.field(name).type, schema.field(name).type
            if ours != theirs and "null" not in (_kind(ours), _kind(theirs)) and _kind(ours) != _kind(theirs):
                raise InputError(
                    f"column {name!r} is {theirs} in {file} but {ours} in the first file {files[0]}; a column must "
                    "have one type in every file (numbers of any width count as one, and so does text)."
                )
    common = first
    casts = []
    for name in first_columns:
        types = [schema.field(name).type for schema in schemas]
        target = _common_type(types)
        if target != types[0]:
            common = common.set(common.get_field_index(name), common.field(name).with_type(target))
        if any(t != target for t in types):
            casts.append((name, target))
    return _Layout(common, tuple(casts))


def _common_type(types: list):
    """The type every file's column is read as: the shared one, else float64, int64 or text; decimals as float64."""
    import pyarrow as pa

    present = [t for t in types if not pa.types.is_null(t)]
    if not present:
        return types[0]
    if all(t == present[0] for t in present) and not pa.types.is_decimal(present[0]):
        return present[0]
    if _kind(present[0]) == "text":
        return pa.large_string()
    if any(pa.types.is_floating(t) or pa.types.is_decimal(t) for t in present):
        return pa.float64()
    if any(pa.types.is_integer(t) for t in present):
        return pa.int64()
    return present[0]  # booleans with nulls


def _read_piece(piece: tuple, layout: _Layout, storage_options: dict | None = None) -> pd.DataFrame:
    """One partition: a whole file, or a run of its row groups, in the layout's column order and types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path, row_groups = piece
    try:
        fs, local = (None, path) if not is_url(path) else filesystem(path, storage_options)
        if row_groups is None:
            table = pq.read_table(local, use_pandas_metadata=True, filesystem=fs)
        else:
            with (open(local, "rb") if fs is None else fs.open(local, "rb")) as source:  # closed after the read
                table = pq.ParquetFile(source).read_row_groups(list(row_groups), use_pandas_metadata=True)
        for name, target in layout.casts:
            index = table.schema.get_field_index(name)
            if table.schema.field(index).type != target:
                table = table.set_column(index, table.schema.field(index).with_type(target), table.column(index).cast(target))
        frame = table.to_pandas(date_as_object=False)  # dates as datetime64, which planning knows to refuse
    except (OSError, ValueError, pa.ArrowException) as error:  # a damaged page, or a file changed since planning
        raise InputError(f"cannot read Parquet file {path}: {error}") from error
    names = _data_columns(layout.schema)
    return frame if list(frame.columns) == names else frame[names]


def count_rows(path: str | os.PathLike, *, storage_options: dict | None = None) -> int | None:
    """The rows of the Parquet at ``path`` from the files' metadata (no data read); None where that is not known
    cheaply (hive-partitioned folders) or the path does not exist (the read then says why)."""
    import pyarrow.parquet as pq

    text = str(path)
    if is_url(text):
        try:
            fs, matches = _matches(text, storage_options)
            files = _plain_files(sorted(matches), fs) if matches else None
            return sum(pq.read_metadata(fs._strip_protocol(f), filesystem=fs).num_rows for f in files) if files else None
        except (OSError, ValueError, InputError):
            return None
    matches = glob.glob(text) if any(ch in text for ch in "*?[") else [text] if Path(text).exists() else []
    files = _plain_files(sorted(matches)) if matches else None
    if not files:
        return None
    try:
        return sum(pq.read_metadata(file).num_rows for file in files)
    except (OSError, ValueError):
        return None


def _text_hint(file: str) -> str:
    """What to do with a text table given where Parquet is read: convert it once (its column types are then
    fixed, not guessed again on each read)."""
    if str(file).lower().endswith((".csv", ".csv.gz", ".tsv", ".txt")):
        return (" (logreg-dist reads Parquet; convert the text file once, e.g. "
                "pandas.read_csv(path).to_parquet('customers.parquet'))")
    return ""

