"""INIS (Sec. 4, Table 3): image/sound pairs from a folder of class-labelled pictures and one of songs.

The paper's second dataset pairs ImageNet photos of five instruments with 0.5 s chunks of 77
solo songs of the same instruments; it was never released. This step builds such a dataset from
any two folders with one sub-folder per class, ``images_root/<class>/*.{jpg,jpeg,png}`` and
``audio_root/<class>/*.{wav,flac,mp3}`` (one file per complete song); the classes are the
folder names found in both (a class in one root only is an error naming it).

- Songs are decoded by ffmpeg to mono at ``sr`` and cut into windows of ``window_s`` every
  ``stride_s`` (a partial last window is dropped, as in Sub-URMP); windows whose RMS is below
  ``silence_rms`` (linear, full scale 1: 0.01 is -40 dBFS) are dropped as silence.
- The sound split is by song, seeded, about ``train_fraction`` of each class's songs in train
  (at least one song on each side, so a class needs two songs: a song is never cut across the
  split); the image split is seeded, about ``train_fraction`` of each class's pictures.
- Each picture (centre-cropped to a square, resized to ``image_size``) is paired with a seeded
  random window of its class from the same split, every window used once before any is reused:
  the pairs of a class and split are as many as its pictures (Table 3's counts).

The pairs go into the same stores as Sub-URMP's, so every downstream step runs on them
unchanged: one "track" per class and split, ``<tracks_dir>/<class>_<split>/`` with
``frames.npy`` (the pictures), ``audio.npy`` (that split's songs of the class, one after the
other) and ``windows.parquet``, and the windows manifest, in which ``piece`` and ``take_id`` name
the song (``<class>/<file stem>``), ``instrument`` the class and ``label`` its index in the
sorted class names (see manifests.class_names); ``frame_index`` is the picture's position in
its class folder and ``frame_time_s`` equals ``start_s`` (a picture has no time of its own).
Table 3 counts songs, sound windows and pairs per class and split beside the paper's numbers.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from crossmodal import manifests, media
from crossmodal.dataset.demo.melody import seeded_rng
from crossmodal.dataset.extract import WindowGrid, to_ms
from crossmodal.store import atomic_directory, save_array, write_csv

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3")
SPLITS = ("train", "test")
#: The paper's Table 3: complete songs, train pairs, test pairs per category.
PAPER_TABLE3 = {
    "piano": (23, 766, 327), "saxophone": (7, 1171, 500), "violin": (21, 631, 269),
    "drum": (7, 1075, 460), "guitar": (19, 818, 349),
}


class InisError(ValueError):
    """The paired folders cannot be made into a dataset; the message names the file or folder."""


# ---------------------------------------------------------------------------------------------
# Finding the classes


@dataclass(frozen=True)
class ClassFiles:
    """One class: its name, its pictures and its songs (sorted paths)."""

    name: str
    images: tuple[Path, ...]
    songs: tuple[Path, ...]


def _class_folders(root: Path, what: str) -> dict[str, Path]:
    if not root.is_dir():
        raise InisError(f"{root}: the INIS {what} root is not a folder")
    return {d.name: d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")}


def _files(folder: Path, suffixes: tuple[str, ...]) -> tuple[Path, ...]:
    return tuple(sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes))


def scan_folders(images_root: Path, audio_root: Path) -> list[ClassFiles]:
    """The classes found in both roots with their files, sorted by name.

    InisError naming the class and the root it is missing from when the roots' class folders
    differ, naming the folder when a class has no file of the expected kinds, and when fewer
    than two classes are found (nothing to tell apart).
    """
    images_root, audio_root = Path(images_root), Path(audio_root)
    image_classes, audio_classes = _class_folders(images_root, "images"), _class_folders(audio_root, "audio")
    problems = [f"class {name!r} has pictures but no folder in {audio_root}"
                for name in sorted(set(image_classes) - set(audio_classes))]
    problems += [f"class {name!r} has songs but no folder in {images_root}"
                 for name in sorted(set(audio_classes) - set(image_classes))]
    if problems:
        raise InisError("the INIS roots do not hold the same classes: " + "; ".join(problems))
    if len(image_classes) < 2:
        raise InisError(f"{images_root} and {audio_root}: {len(image_classes)} class folder(s) found; "
                        f"INIS needs two classes at least, one sub-folder per class in each root")
    classes = []
    for name in sorted(image_classes):
        images = _files(image_classes[name], IMAGE_SUFFIXES)
        songs = _files(audio_classes[name], AUDIO_SUFFIXES)
        for folder, found, suffixes in ((image_classes[name], images, IMAGE_SUFFIXES),
                                        (audio_classes[name], songs, AUDIO_SUFFIXES)):
            if not found:
                raise InisError(f"{folder}: class folder holds no {'/'.join(s[1:] for s in suffixes)} file")
        classes.append(ClassFiles(name, images, songs))
    return classes


# ---------------------------------------------------------------------------------------------
# Reading (the file edge)


def decode_song(path: Path, sr: int) -> np.ndarray:
    """float32 [n] mono at ``sr`` Hz, decoded by ffmpeg (any format it reads: WAV, FLAC, MP3);
    MediaError naming the file when it cannot be decoded or holds no sound."""
    import ffmpeg

    path = Path(path)
    try:
        raw, _ = (ffmpeg.input(str(path))
                  .output("pipe:", format="f32le", acodec="pcm_f32le", ac=1, ar=sr)
                  .run(cmd=media.ffmpeg_exe(), capture_stdout=True, capture_stderr=True))
    except ffmpeg.Error as err:
        detail = err.stderr.decode(errors="replace").strip().splitlines()
        raise media.MediaError(f"{path}: ffmpeg cannot decode the song ({detail[-1] if detail else 'no detail'})") from err
    samples = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    if samples.size == 0:
        raise media.MediaError(f"{path}: the song holds no audio samples")
    return samples


def read_picture(path: Path, size: int) -> np.ndarray:
    """uint8 [size, size, 3] RGB: the picture centre-cropped to a square and resized (Lanczos);
    MediaError naming the file when it cannot be read as an image."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as image:
            image = image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as err:
        raise media.MediaError(f"{path}: not a readable picture ({err})") from err
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    image = image.crop((left, top, left + side, top + side)).resize((size, size), Image.LANCZOS)
    return np.asarray(image, dtype=np.uint8)


# ---------------------------------------------------------------------------------------------
# Windows, silence, split, pairing (pure)


def window_rms(audio: np.ndarray, starts: np.ndarray, win_samples: int) -> np.ndarray:
    """float64 [n]: RMS of ``audio[s:s + win_samples]`` for each start ``s`` (cumulative sums)."""
    energy = np.concatenate([[0.0], np.cumsum(np.square(audio, dtype=np.float64))])
    starts = np.asarray(starts, dtype=np.int64)
    power = (energy[starts + win_samples] - energy[starts]) / win_samples
    return np.sqrt(np.maximum(power, 0.0))


def loud_windows(audio: np.ndarray, grid: WindowGrid, silence_rms: float) -> tuple[np.ndarray, int]:
    """(int64 starts of the windows at or above ``silence_rms``, number of windows in all)."""
    starts = grid.start_samples(grid.count(len(audio)))
    keep = window_rms(audio, starts, grid.win_samples) >= silence_rms
    return starts[keep], len(starts)


def n_test_items(n: int, train_fraction: float) -> int:
    """Items of ``n`` that go to test: about ``1 - train_fraction`` of them, at least one and
    never all (``n`` >= 2)."""
    return int(min(n - 1, max(1, round(n * (1.0 - train_fraction)))))


def split_mask(n: int, train_fraction: float, rng: np.random.Generator) -> np.ndarray:
    """bool [n], True = test: a seeded choice of :func:`n_test_items` items."""
    is_test = np.zeros(n, dtype=bool)
    is_test[rng.permutation(n)[:n_test_items(n, train_fraction)]] = True
    return is_test


def draw_windows(n_pairs: int, n_windows: int, rng: np.random.Generator) -> np.ndarray:
    """int64 [n_pairs]: indices into ``n_windows`` windows, a seeded random order of all of
    them, then another, ...: no window is used twice before every one is used once."""
    if n_windows <= 0:
        raise ValueError("no window to pair with")
    rounds = -(-n_pairs // n_windows)
    return np.concatenate([rng.permutation(n_windows) for _ in range(rounds)])[:n_pairs].astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Building the dataset


@dataclass
class Settings:
    """What the pairs depend on (the config's dataset.* and inis.* keys)."""

    window_s: float = 0.5
    stride_s: float = 0.1
    sr: int = 44100
    image_size: int = 64
    silence_rms: float = 0.01
    train_fraction: float = 0.8
    seed: int = 0
    on_unreadable: str = "error"

    def grid(self) -> WindowGrid:
        return WindowGrid(to_ms(self.window_s, "inis window"), to_ms(self.stride_s, "inis.stride_s"), self.sr)


@dataclass
class _Song:
    song_id: str
    path: Path
    audio: np.ndarray
    starts: np.ndarray          # loud windows' start samples
    n_windows: int              # windows before the silence rule


@dataclass
class ClassResult:
    """One class's pairs per split (track tables) and its Table 3 counts."""

    name: str
    tracks: dict[str, tuple[np.ndarray, np.ndarray, pd.DataFrame]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)


def _readable(paths, read, policy: str, what: str) -> tuple[list, list[Path]]:
    """(what ``read`` returned for each readable path, paths skipped); refuses an unreadable
    one unless ``policy`` is skip."""
    out, skipped = [], []
    for path in paths:
        try:
            out.append((path, read(path)))
        except media.MediaError as err:
            if policy != "skip":
                raise InisError(f"{err} (set inis.on_unreadable: skip to leave such {what} out)") from err
            log.warning("skipped: %s", err)
            skipped.append(path)
    return out, skipped


def build_class(files: ClassFiles, settings: Settings) -> ClassResult:
    """Reads, cuts, splits and pairs one class; InisError naming what cannot be used."""
    grid = settings.grid()
    pictures, skipped_images = _readable(files.images, lambda p: read_picture(p, settings.image_size),
                                         settings.on_unreadable, "pictures")

    def read_song(path: Path) -> np.ndarray:
        audio = decode_song(path, settings.sr)
        if len(audio) < grid.win_samples:
            raise media.MediaError(f"{path}: the song lasts {len(audio) / settings.sr:.3f} s, shorter than one "
                                   f"{settings.window_s} s window")
        return audio

    decoded, skipped_songs = _readable(files.songs, read_song, settings.on_unreadable, "songs")
    if len(pictures) < 2:
        raise InisError(f"class {files.name!r}: {len(pictures)} readable picture(s); two at least are needed "
                        f"(one for train, one for test)")
    if len(decoded) < 2:
        names = ", ".join(p.name for p, _ in decoded) or "none"
        raise InisError(f"class {files.name!r} has a single usable song ({names}): the sound split is by song, a "
                        f"song is never cut across train and test, so one song cannot be split; add a song")
    songs = []
    for path, audio in decoded:
        starts, n_windows = loud_windows(audio, grid, settings.silence_rms)
        songs.append(_Song(f"{files.name}/{path.stem}", path, audio, starts, n_windows))

    song_test = split_mask(len(songs), settings.train_fraction, seeded_rng(settings.seed, "inis songs", files.name))
    image_test = split_mask(len(pictures), settings.train_fraction,
                            seeded_rng(settings.seed, "inis images", files.name))
    position = {path: i for i, path in enumerate(files.images)}
    result = ClassResult(files.name)
    counts = result.counts
    counts.update(complete_songs=len(songs), skipped_images=len(skipped_images), skipped_songs=len(skipped_songs),
                  silent_windows=sum(s.n_windows - len(s.starts) for s in songs))
    for split, in_split in (("train", ~song_test), ("test", song_test)):
        chosen = [s for s, keep in zip(songs, in_split) if keep]
        offsets = np.cumsum([0] + [len(s.audio) for s in chosen])
        song_of = np.concatenate([np.full(len(s.starts), i) for i, s in enumerate(chosen)]).astype(np.int64)
        local = np.concatenate([s.starts for s in chosen]).astype(np.int64)
        if len(local) == 0:
            raise InisError(f"class {files.name!r}: every window of its {split} songs "
                            f"({', '.join(s.path.name for s in chosen)}) is below the silence threshold "
                            f"inis.silence_rms = {settings.silence_rms}")
        images = [(path, image) for (path, image), test in zip(pictures, image_test) if test == (split == "test")]
        pick = draw_windows(len(images), len(local), seeded_rng(settings.seed, "inis pairs", files.name, split))
        start = local[pick]
        song = song_of[pick]
        windows = pd.DataFrame({
            "track_id": f"{files.name}_{split}",
            "window_index": np.arange(len(images), dtype=np.int32),
            "start_s": start / settings.sr,
            "frame_index": np.array([position[path] for path, _ in images], dtype=np.int32),
            "frame_time_s": start / settings.sr,
            "audio_start": offsets[song] + start,
            "audio_stop": offsets[song] + start + grid.win_samples,
            "piece": [chosen[i].song_id for i in song],
        })
        frames = np.stack([image for _, image in images])
        track_audio = np.concatenate([s.audio for s in chosen]).astype(np.float32)
        result.tracks[split] = (frames, track_audio, windows)
        counts[f"{split}_songs"] = len(chosen)
        counts[f"{split}_sound_windows"] = int(len(local))
        counts[f"{split}_pairs"] = len(images)
    log.info("%s: %d pictures, %d songs (%d train / %d test), %d silent windows dropped; pairs %d train / %d test",
             files.name, len(pictures), len(songs), counts["train_songs"], counts["test_songs"],
             counts["silent_windows"], counts["train_pairs"], counts["test_pairs"])
    return result


TABLE3_COLUMNS = ["class", "complete_songs", "train_songs", "test_songs", "train_pairs", "test_pairs",
                  "train_sound_windows", "test_sound_windows", "silent_windows", "skipped_images", "skipped_songs",
                  "paper_songs", "paper_train", "paper_test"]


def table3(results: list[ClassResult]) -> pd.DataFrame:
    """Table 3: one row per class and a total ("all"), the paper's numbers beside (NaN for a
    class the paper does not have)."""
    rows = []
    for result in results:
        paper = PAPER_TABLE3.get(result.name, (np.nan, np.nan, np.nan))
        rows.append({"class": result.name, **result.counts,
                     "paper_songs": paper[0], "paper_train": paper[1], "paper_test": paper[2]})
    table = pd.DataFrame(rows)
    total = table.drop(columns="class").sum(min_count=1).to_dict()
    table = pd.concat([table, pd.DataFrame([{"class": "all", **total}])], ignore_index=True)
    return table[TABLE3_COLUMNS]


def build_inis(images_root: Path, audio_root: Path, tracks_dir: Path, settings: Settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Builds every class's tracks into ``tracks_dir`` (replaced, in place only when all are
    written); returns (the windows manifest, Table 3)."""
    classes = scan_folders(images_root, audio_root)
    names = [c.name for c in classes]
    tracks_dir = Path(tracks_dir)
    parts, results = [], []
    with atomic_directory(tracks_dir) as tmp:
        for files in classes:
            result = build_class(files, settings)
            results.append(result)
            for split in SPLITS:
                frames, track_audio, windows = result.tracks.pop(split)
                name = f"{files.name}_{split}"
                folder = tmp / name
                folder.mkdir()
                save_array(folder / "frames.npy", frames)
                save_array(folder / "audio.npy", track_audio)
                manifests.write(windows.drop(columns="piece"), folder / "windows.parquet", "track_windows")
                parts.append(windows.assign(
                    instrument=files.name, label=names.index(files.name), take_id=windows["piece"], split=split,
                    frames_path=str(tracks_dir / name / "frames.npy"), audio_path=str(tracks_dir / name / "audio.npy"),
                ))
        manifest = pd.concat(parts, ignore_index=True)
        manifest.insert(0, "window_id", np.arange(len(manifest), dtype=np.int64))
        manifest = manifest[manifests.WINDOWS_SCHEMA.names]
        manifests.to_table(manifest, "windows", where="INIS windows")  # checked before the folder is put in place
    return manifest, table3(results)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    d = Settings()
    parser.add_argument("--images-root", required=True, type=Path, help="folder of <class>/*.{jpg,jpeg,png}")
    parser.add_argument("--audio-root", required=True, type=Path, help="folder of <class>/*.{wav,flac,mp3}, one song each")
    parser.add_argument("--tracks-dir", required=True, type=Path, help="output: folder of <class>_<split>/ array stores")
    parser.add_argument("--windows", required=True, type=Path, help="output: the windows manifest (Parquet)")
    parser.add_argument("--table3", required=True, type=Path, help="output: Table 3 (CSV)")
    parser.add_argument("--window", type=float, default=d.window_s, help="window length, s")
    parser.add_argument("--stride", type=float, default=d.stride_s, help="window stride, s")
    parser.add_argument("--sr", type=int, default=d.sr, help="sample rate of the pairs' audio, Hz")
    parser.add_argument("--image-size", type=int, default=d.image_size, help="side of the square pictures, px")
    parser.add_argument("--silence-rms", type=float, default=d.silence_rms,
                        help="windows with a lower RMS (full scale 1) are dropped as silence")
    parser.add_argument("--train-fraction", type=float, default=d.train_fraction)
    parser.add_argument("--seed", type=int, default=d.seed)
    parser.add_argument("--on-unreadable", choices=["error", "skip"], default=d.on_unreadable,
                        help="an unreadable picture or song (or one shorter than a window) stops the step, or is "
                             "left out and counted in Table 3")


def run(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    settings = Settings(args.window, args.stride, args.sr, args.image_size, args.silence_rms, args.train_fraction,
                        args.seed, args.on_unreadable)
    manifest, table = build_inis(args.images_root, args.audio_root, args.tracks_dir, settings)
    try:
        manifests.write(manifest, args.windows, "windows")
        write_csv(args.table3, table)
    except BaseException:
        Path(args.windows).unlink(missing_ok=True)  # the manifest alone would pass for a finished run
        raise
    log.info("INIS: %d pairs of %d classes (%s) in %.1f s", len(manifest), manifest["label"].nunique(),
             manifest.groupby("split").size().to_dict(), time.perf_counter() - started)
