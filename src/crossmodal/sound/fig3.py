"""Fig. 3: one sound as wave, STFT, MS, CQT, MFCC and LMS, the inputs the classifier compares.

Each panel shows the window's row of the representation's store as it is fed to the network
(STFT, MS and CQT linear, as the paper's figure shows them, so LMS's clearer pattern is
visible). The window is --window-id, or the loudest window of the first track.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np

from crossmodal.manifests import read_windows
from crossmodal.sound.features import PAPER_NAMES
from crossmodal.store import atomic_output, load_window_audio, open_array

log = logging.getLogger(__name__)

#: Panel order of the paper's figure.
PANELS = ("stft", "ms", "cqt", "mfcc", "lms")
ROW_LABELS = {"stft": "frequency bin", "ms": "mel band", "cqt": "CQT bin", "mfcc": "coefficient", "lms": "mel band"}


def pick_window(windows, window_id: int | None) -> int:
    """``window_id`` if given, else the window of largest RMS among the first track's."""
    if window_id is not None:
        if not 0 <= window_id < len(windows):
            raise ValueError(f"window {window_id} is not in the manifest (0..{len(windows) - 1})")
        return int(window_id)
    first = windows[windows["track_id"] == sorted(windows["track_id"])[0]]
    rms = np.sqrt(np.mean(np.square(load_window_audio(first), dtype=np.float64), axis=1))
    return int(first["window_id"].iloc[int(np.argmax(rms))])


def draw(wave: np.ndarray, sr: int, panels: dict[str, np.ndarray], title: str, out: str | Path) -> None:
    """Writes the figure (PNG) atomically: wave [samples], panels rep -> [F, T]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), constrained_layout=True)
    axes = axes.ravel()
    seconds = len(wave) / sr
    axes[0].plot(np.arange(len(wave)) / sr, wave, linewidth=0.4, color="k")
    axes[0].set(title="Wave", xlabel="time (s)", ylabel="amplitude", xlim=(0, seconds))
    for ax, rep in zip(axes[1:], PANELS, strict=True):
        image = ax.imshow(panels[rep], origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, panels[rep].shape[0]))
        ax.set(title=f"{PAPER_NAMES[rep]} ({panels[rep].shape[0]} x {panels[rep].shape[1]})", xlabel="time (s)", ylabel=ROW_LABELS[rep])
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        fig.colorbar(image, ax=ax, pad=0.01)
    fig.suptitle(title)
    try:
        with atomic_output(out) as tmp:
            fig.savefig(tmp, dpi=120, format="png")
    finally:
        plt.close(fig)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--windows", required=True, help="windows manifest (Parquet)")
    for rep in PANELS:
        parser.add_argument(f"--{rep}", required=True, help=f"{PAPER_NAMES[rep]} store ({rep}.npy)")
    parser.add_argument("--sr", type=int, default=44100, help="sample rate of the window audio")
    parser.add_argument("--window-id", type=int, default=None, help="window to show (default: loudest of the first track)")
    parser.add_argument("--out", required=True, help="output PNG")


def run(args: argparse.Namespace) -> None:
    windows = read_windows(args.windows)
    window_id = pick_window(windows, args.window_id)
    row = windows.iloc[[window_id]]
    wave = load_window_audio(row)[0]
    panels = {rep: np.asarray(open_array(getattr(args, rep), rows=len(windows))[window_id]) for rep in PANELS}
    info = row.iloc[0]
    title = f"Window {window_id}: {info['instrument']}, {info['track_id']} at {info['start_s']:.1f} s"
    draw(wave, args.sr, panels, title, args.out)
    log.info("wrote %s (%s)", args.out, title)
