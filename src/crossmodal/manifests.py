"""Parquet manifests: their schemas, an atomic writer and a checking reader.

Every table that passes between workflow stages is one of the schemas below. A reader checks
the file against its schema, so a stale or hand-edited manifest fails loudly where it is read,
naming the file and the column, instead of somewhere downstream.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crossmodal.store import atomic_output

if TYPE_CHECKING:  # pyarrow loads pandas when a DataFrame is converted; extraction writes Arrow tables
    import pandas as pd

#: One row per player (a "track"): what ingestion found, probed and decided about it.
TRACKS_SCHEMA = pa.schema([
    pa.field("track_id", pa.string(), nullable=False),       # 24_Pirates_3_va
    pa.field("piece", pa.string(), nullable=False),          # 24_Pirates_vn_vn_va_vc
    pa.field("piece_number", pa.int16(), nullable=False),
    pa.field("part", pa.int16(), nullable=False),            # 1-based
    pa.field("n_parts", pa.int16(), nullable=False),
    pa.field("instrument", pa.string(), nullable=False),     # from the folder name
    pa.field("instrument_code", pa.string(), nullable=False),
    pa.field("video_path", pa.string(), nullable=False),
    pa.field("audio_path", pa.string(), nullable=False),     # AuSep of this part
    pa.field("notes_path", pa.string(), nullable=True),
    pa.field("f0_path", pa.string(), nullable=True),
    pa.field("video_duration_s", pa.float64(), nullable=False),
    pa.field("audio_duration_s", pa.float64(), nullable=False),
    pa.field("fps", pa.float64(), nullable=False),           # probed average frame rate
    pa.field("video_width", pa.int32(), nullable=False),
    pa.field("video_height", pa.int32(), nullable=False),
    pa.field("audio_sr", pa.int32(), nullable=False),        # probed, before resampling
    pa.field("audio_channels", pa.int16(), nullable=False),
    pa.field("audio_sha256", pa.string(), nullable=False),   # of the decoded samples
    pa.field("take_id", pa.string(), nullable=False),        # equal for byte-identical takes
    pa.field("split", pa.string(), nullable=False),          # train | test
])

#: One row per 0.5 s window of one track, as extraction writes it (before the split is known).
TRACK_WINDOWS_SCHEMA = pa.schema([
    pa.field("track_id", pa.string(), nullable=False),
    pa.field("window_index", pa.int32(), nullable=False),    # k, row k of the track's arrays
    pa.field("start_s", pa.float64(), nullable=False),       # t = k * stride
    pa.field("frame_index", pa.int32(), nullable=False),     # index of the frame in the video
    pa.field("frame_time_s", pa.float64(), nullable=False),  # its presentation time, >= start_s
    pa.field("audio_start", pa.int64(), nullable=False),     # sample offsets into audio.npy
    pa.field("audio_stop", pa.int64(), nullable=False),
])

#: All windows of all tracks: the Sub-URMP image/sound pairs, with labels and split.
WINDOWS_SCHEMA = pa.schema([
    pa.field("window_id", pa.int64(), nullable=False),       # row number, 0..N-1
    *TRACK_WINDOWS_SCHEMA,
    pa.field("piece", pa.string(), nullable=False),
    pa.field("instrument", pa.string(), nullable=False),
    pa.field("label", pa.int16(), nullable=False),           # index into class_names(): URMP's 13 names
    pa.field("take_id", pa.string(), nullable=False),
    pa.field("split", pa.string(), nullable=False),
    pa.field("frames_path", pa.string(), nullable=False),    # uint8 [n, S, S, 3] .npy
    pa.field("audio_path", pa.string(), nullable=False),     # float32 [samples] .npy, 44.1 kHz
])

#: Pitch of every window (crossmodal.pitch.windows), row i = window_id i of the windows manifest.
WINDOW_PITCH_SCHEMA = pa.schema([
    pa.field("window_id", pa.int64(), nullable=False),
    pa.field("track_id", pa.string(), nullable=False),
    pa.field("f0_hz", pa.float64(), nullable=True),          # median voiced F0; null: no voiced frame
    pa.field("voiced_fraction", pa.float64(), nullable=False),  # share of the window's F0 frames voiced
    pa.field("frame_f0_hz", pa.float64(), nullable=True),    # F0 at the window's image; null: unvoiced there
    pa.field("f0_source", pa.string(), nullable=False),      # annotation (URMP F0s file) | yin (estimated)
])

SCHEMAS = {"tracks": TRACKS_SCHEMA, "track_windows": TRACK_WINDOWS_SCHEMA, "windows": WINDOWS_SCHEMA,
           "window_pitch": WINDOW_PITCH_SCHEMA}


class ManifestError(ValueError):
    """A manifest does not match its schema; the message names the file and the column."""


def _check_columns(names: list[str], schema: pa.Schema, where: str) -> None:
    missing = [name for name in schema.names if name not in names]
    if missing:
        raise ManifestError(f"{where}: missing column(s) {missing}")
    extra = [name for name in names if name not in schema.names]
    if extra:
        raise ManifestError(f"{where}: unexpected column(s) {extra}")


def _check_split(values, where: str) -> None:
    bad = sorted(set(values) - {"train", "test"})
    if bad:
        raise ManifestError(f"{where}: column 'split' holds {bad}; expected train or test")


def _check(df: pd.DataFrame, schema: pa.Schema, where: str) -> None:
    _check_columns(list(df.columns), schema, where)
    for field in schema:
        if not field.nullable and df[field.name].isna().any():
            row = int(df[field.name].isna().to_numpy().nonzero()[0][0])
            raise ManifestError(f"{where}: column {field.name!r} is empty in row {row}")
    if "split" in df.columns:
        _check_split(df["split"], where)


def class_names(windows: pd.DataFrame, where: str = "windows manifest") -> tuple[str, ...]:
    """The class list a windows manifest's ``label`` column indexes (what a classifier's outputs mean).

    Sub-URMP labels index all 13 URMP instrument names (urmp.INSTRUMENT_NAMES) whichever
    instruments a run keeps, so its models always have 13 outputs. A dataset with classes of its
    own (INIS, a user's paired folders) labels each by its index in its sorted class names.
    Call it on the whole manifest: a subset may lack a class. ManifestError when the labels fit
    neither rule.
    """
    from crossmodal.urmp import INSTRUMENT_NAMES

    pairs = windows[["instrument", "label"]].drop_duplicates()
    found = [(str(name), int(label)) for name, label in pairs.itertuples(index=False)]
    urmp_index = {name: i for i, name in enumerate(INSTRUMENT_NAMES)}
    if all(urmp_index.get(name) == label for name, label in found):
        return INSTRUMENT_NAMES
    own = tuple(sorted({name for name, _ in found}))
    if all(own.index(name) == label for name, label in found):
        return own
    raise ManifestError(
        f"{where}: labels are neither URMP instrument indices nor indices into the sorted class names "
        f"{list(own)} (found {sorted(set(found))[:6]})"
    )


def to_table(df: pd.DataFrame, kind: str, where: str = "table") -> pa.Table:
    """Checks ``df`` against the schema ``kind`` and converts it (columns in schema order)."""
    schema = SCHEMAS[kind]
    _check(df, schema, where)
    try:
        return pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as err:
        raise ManifestError(f"{where}: does not fit the {kind} schema: {err}") from err


def check_table(table: pa.Table, kind: str, where: str = "table") -> pa.Table:
    """Checks an Arrow ``table`` against the schema ``kind`` as :func:`to_table` checks a DataFrame
    (the columns, no null in a required one, the split's values) and returns it in the schema's
    column order and types."""
    schema = SCHEMAS[kind]
    _check_columns(table.column_names, schema, where)
    for field in schema:
        column = table.column(field.name)
        if not field.nullable and column.null_count:
            row = next(i for i, value in enumerate(column.is_null().to_pylist()) if value)
            raise ManifestError(f"{where}: column {field.name!r} is empty in row {row}")
    if "split" in table.column_names:
        _check_split(table.column("split").to_pylist(), where)
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as err:
        raise ManifestError(f"{where}: does not fit the {kind} schema: {err}") from err


def table_from_numpy(columns: dict[str, np.ndarray | str], kind: str) -> pa.Table:
    """A ``kind`` table from numpy columns (a str: that value in every row), checked as :func:`write` does.

    Built on the arrays' buffers because pyarrow's own conversions (pa.array, pa.table) import
    pandas on first use, 0.3 s of CPU that the extraction process, sharing a few cores with
    ffmpeg, does without. Only fixed-width number columns and constant strings are supported.
    """
    schema = SCHEMAS[kind]
    lengths = {len(v) for v in columns.values() if not isinstance(v, str)}
    if len(lengths) != 1:
        raise ManifestError(f"{kind} table: columns of unequal or unknown lengths {sorted(lengths)}")
    (n,) = lengths
    arrays, names = [], []
    for name, values in columns.items():
        if name not in schema.names:
            raise ManifestError(f"{kind} table: unexpected column(s) [{name!r}]")
        field = schema.field(name)
        if isinstance(values, str):
            data = values.encode()
            offsets = np.arange(n + 1, dtype=np.int32) * len(data)
            array = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)])
        elif pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
            values = np.ascontiguousarray(values, dtype=field.type.to_pandas_dtype())
            array = pa.Array.from_buffers(field.type, n, [None, pa.py_buffer(values)])
        else:
            raise ManifestError(f"{kind} table: column {name!r} ({field.type}) must be a constant string")
        arrays.append(array)
        names.append(name)
    return check_table(pa.Table.from_arrays(arrays, names=names), kind, where=f"{kind} table")


def write(df: pd.DataFrame | pa.Table, path: str | os.PathLike, kind: str) -> None:
    """Writes ``df`` (a DataFrame, or an Arrow table as extraction makes without pandas) as a
    ``kind`` manifest, atomically: a crash leaves no partial file."""
    path = Path(path)
    if isinstance(df, pa.Table):
        table = check_table(df, kind, where=str(path))
    else:
        table = to_table(df, kind, where=str(path))
    with atomic_output(path) as tmp:
        pq.write_table(table, tmp)


def read(path: str | os.PathLike, kind: str) -> pd.DataFrame:
    """Reads a ``kind`` manifest and checks it against its schema."""
    path = Path(path)
    if not path.exists():
        raise ManifestError(f"{path}: manifest does not exist")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as err:
        raise ManifestError(f"{path}: not a readable Parquet file: {err}") from err
    schema = SCHEMAS[kind]
    for field in schema:
        if field.name in table.schema.names and not table.schema.field(field.name).type.equals(field.type):
            raise ManifestError(
                f"{path}: column {field.name!r} has type {table.schema.field(field.name).type}, "
                f"expected {field.type}"
            )
    df = table.to_pandas()
    _check(df, schema, str(path))
    return df[schema.names]


def read_windows(path: str | os.PathLike) -> pd.DataFrame:
    """The windows manifest, checked to be indexed by window_id: row i of the manifest is row i
    of every per-window store (features, encodings), which every reader relies on."""
    windows = read(path, "windows")
    if not np.array_equal(windows["window_id"].to_numpy(), np.arange(len(windows))):
        raise ManifestError(f"{path}: window_id is not the row number 0..N-1")
    return windows
