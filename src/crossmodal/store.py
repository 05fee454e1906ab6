"""Array stores: the windows' frames and audio from the per-track arrays, and the feature stores.

Windows are never files of their own (80,805 on full URMP). Their images and sound live in one
``frames.npy`` and one ``audio.npy`` per track, indexed by the windows manifest; features and
encodings live in one ``.npy`` per representation with row i = window_id i. Readers memory-map
so a training job touches only the rows it uses.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas is imported where it is used: the extraction process never loads it
    import pandas as pd


class StoreError(ValueError):
    """An array store is missing or does not match the manifest; names the file."""


def _umask_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """THE writer of every output file: a temporary path beside ``path`` to write to, renamed
    onto ``path`` when the block ends without error, removed otherwise.

    A failed job thus leaves nothing a rerun would take as valid output. The temporary name
    keeps ``path``'s suffix (writers that pick the format from the extension still work), and
    the file gets the usual permissions of a new file under the umask (``mkstemp`` alone would
    leave it readable by its owner only, which hides results from colleagues on a shared
    cluster file system).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_outputs(paths: list[str | os.PathLike]) -> Iterator[list[Path]]:
    """Temporary paths for a set of files that are valid only together: all are renamed onto
    ``paths`` (in the given order, so the last one can mark the set complete) when the block
    succeeds, and none is left, old or new, when it fails."""
    paths = [Path(p) for p in paths]
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(_kept_temporary(p)) for p in paths]
        try:
            yield tmps
        except BaseException:
            for path in paths:
                path.unlink(missing_ok=True)
            raise
        mode = _umask_mode()
        for tmp, path in zip(tmps, paths):
            os.chmod(tmp, mode)
            os.replace(tmp, path)


@contextlib.contextmanager
def _kept_temporary(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path``, removed on exit unless it was renamed away."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield Path(tmp)
    finally:
        Path(tmp).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary folder beside ``path`` to fill, put in place of ``path`` (replacing an
    existing one) when the block ends without error, removed otherwise: for outputs that are a
    whole folder (a generated dataset, per-track arrays), so a failed run leaves no half of one."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.tmp-"))
    try:
        yield tmp
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(tmp, 0o777 & ~mask)  # mkdtemp's folder is the owner's only
        if path.exists():
            old = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old-"))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_csv(path: str | os.PathLike, frame: pd.DataFrame, index: bool = False) -> None:
    """Writes ``frame`` as CSV (without its index unless asked) atomically."""
    write_text(path, frame.to_csv(index=index, lineterminator="\n"))


def write_json(path: str | os.PathLike, payload: dict) -> None:
    """Writes ``payload`` as indented JSON atomically."""
    write_text(path, json.dumps(payload, indent=2) + "\n")


def _open_npy(path: str | os.PathLike) -> np.ndarray:
    path = Path(path)
    try:
        return np.load(path, mmap_mode="r")
    except FileNotFoundError as err:
        raise StoreError(f"{path}: array file does not exist") from err
    except (OSError, ValueError) as err:
        raise StoreError(f"{path}: not a readable .npy array: {err}") from err


def _by_track(windows: pd.DataFrame, path_column: str):
    """(positions in ``windows``, the track's file) for each distinct file, in first-use order."""
    import pandas as pd

    positions = np.arange(len(windows))
    for path, rows in pd.Series(positions).groupby(windows[path_column].to_numpy(), sort=False):
        yield rows.to_numpy(), path


def load_frames(windows: pd.DataFrame) -> np.ndarray:
    """The windows' images, uint8 [N, S, S, 3] RGB in the rows' order.

    ``windows``: rows of the windows manifest (any subset, any order); each track's
    ``frames.npy`` is memory-mapped once and its rows ``window_index`` are gathered.
    """
    out: np.ndarray | None = None
    for rows, path in _by_track(windows, "frames_path"):
        frames = _open_npy(path)
        index = windows["window_index"].to_numpy()[rows]
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise StoreError(f"{path}: expected uint8 [n, S, S, 3] frames, found {frames.dtype} {frames.shape}")
        if index.max(initial=-1) >= len(frames):
            raise StoreError(f"{path}: has {len(frames)} frames, the manifest asks for window {index.max()}")
        if out is None:
            out = np.empty((len(windows), *frames.shape[1:]), dtype=np.uint8)
        elif frames.shape[1:] != out.shape[1:]:
            raise StoreError(f"{path}: frames of shape {frames.shape[1:]}, other tracks have {out.shape[1:]}")
        out[rows] = frames[index]
    return out if out is not None else np.empty((0, 0, 0, 3), dtype=np.uint8)


def load_window_audio(windows: pd.DataFrame) -> np.ndarray:
    """The windows' sound, float32 [N, window_samples], ``audio[audio_start:audio_stop]`` per row."""
    lengths = (windows["audio_stop"] - windows["audio_start"]).to_numpy()
    if len(lengths) == 0:
        return np.empty((0, 0), dtype=np.float32)
    if (lengths != lengths[0]).any() or lengths[0] <= 0:
        raise StoreError(f"windows have unequal or empty audio spans: {sorted(set(lengths.tolist()))[:5]}")
    n = int(lengths[0])
    out = np.empty((len(windows), n), dtype=np.float32)
    for rows, path in _by_track(windows, "audio_path"):
        audio = _open_npy(path)
        starts = windows["audio_start"].to_numpy()[rows]
        if audio.ndim != 1:
            raise StoreError(f"{path}: expected mono float32 [samples], found shape {audio.shape}")
        if starts.min() < 0 or starts.max() + n > len(audio):
            raise StoreError(f"{path}: has {len(audio)} samples, a window reaches sample {starts.max() + n}")
        # One strided view of every possible window; fancy-index the ones asked for.
        view = np.lib.stride_tricks.sliding_window_view(audio, n)
        out[rows] = view[starts]
    return out


def save_array(path: str | os.PathLike, array: np.ndarray) -> None:
    """Writes ``array`` as ``.npy`` atomically (temp file in the same folder, then rename)."""
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, np.asarray(array))


@contextlib.contextmanager
def create_array(path: str | os.PathLike, shape: tuple[int, ...], dtype=np.float32) -> Iterator[np.ndarray]:
    """A writable ``.npy`` memmap filled in the ``with`` block, renamed to ``path`` on success.

    For stores too large to build in memory (the STFT of full URMP is about 15 GB); an
    exception inside the block leaves no file at ``path``.
    """
    with atomic_output(path) as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
        yield array
        array.flush()
        del array


def open_array(path: str | os.PathLike, rows: int | None = None) -> np.ndarray:
    """A read-only memmap of a store; with ``rows``, checks it has that many rows (one per window)."""
    array = _open_npy(path)
    if rows is not None and len(array) != rows:
        raise StoreError(f"{path}: has {len(array)} rows, the windows manifest has {rows}; rerun its rule")
    return array
