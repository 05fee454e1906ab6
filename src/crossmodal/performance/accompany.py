"""Give a silent video the sound I2S makes of its pictures (pictures -> sound, beyond the paper).

For every window of the video (0.5 s every stride, as the dataset cuts them) the picture is the
first frame at or after the window's start, cropped to --panel p/n and fitted to the image
size by the dataset's own decoding path (crossmodal.dataset.extract.PanelDecoder); the image
classifier encodes it, I2S draws an LMS (one noise z for the whole video), and the project's
batched Griffin-Lim (sound.inverse.lms_to_audio_batch) turns each LMS into 0.5 s of sound.
Consecutive windows are joined with
a short raised-cosine crossfade, each heard over its middle stride (render.CrossfadeJoiner), so
there is no click at a window boundary. The sound is muxed as AAC under the original pictures
(the panel, H.264). Writes --out (MP4) and --summary (JSON) together or not at all.
"""

from __future__ import annotations

import argparse
import collections
import json
import logging
from pathlib import Path

import numpy as np
import torch

from crossmodal import media
from crossmodal.config import section_defaults
from crossmodal.performance import render
from crossmodal.performance.perform import FEATURE_TYPES, add_common_arguments, fixed_noise
from crossmodal.sound import inverse
from crossmodal.urmp import INSTRUMENT_NAMES

log = logging.getLogger(__name__)

#: ``features:`` keys that define the LMS, hence its inversion.
INVERSION_KEYS = ("n_fft", "hop_length", "fmin", "fmax", "htk", "mel_norm", "ref")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    perf, ds = section_defaults("performances"), section_defaults("dataset")
    parser.add_argument("--video", type=Path, required=True, help="a video (its sound, if any, is replaced)")
    parser.add_argument("--panel", default="1/1", help="p/n: the p-th of n players side by side (default %(default)s)")
    parser.add_argument("--out", type=Path, required=True, help="the video with the generated sound, .mp4")
    parser.add_argument("--image-classifier", type=Path, required=True, help="the image classifier's model.pt (I2S's encoder)")
    parser.add_argument("--i2s", type=Path, required=True, help="the I2S GAN's model.pt")
    parser.add_argument("--image-size", type=int, default=ds["image_size"], help="side of the encoder's images (default %(default)s)")
    parser.add_argument("--panel-fit", default=ds.get("panel_fit", "stretch"), help="how a panel becomes square: "
                        "stretch, pad or crop, as the dataset's (default %(default)s)")
    parser.add_argument("--griffin-lim-iters", type=int, default=perf["griffin_lim_iters"], help="per window (default %(default)s)")
    parser.add_argument("--crossfade", type=float, default=perf["crossfade_s"], help="between windows, s (default %(default)s)")
    f = section_defaults("features")
    for key in INVERSION_KEYS:  # the features' LMS definition, flags as the features step reads them
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=FEATURE_TYPES[key], default=f[key],
                            help="the features' setting (default %(default)s)")
    add_common_arguments(parser)


def panel_frames(video: Path, info: dict, panel: int, panels: int, start_ms: np.ndarray, size: int, fit: str,
                 threads: int) -> np.ndarray:
    """uint8 [n, size, size, 3]: the first frame at or after each start (ms), cut to panel p of
    n equal panels and fitted to size x size, by the dataset's own decoding (one ffmpeg pass).

    Windows past the last frame (a video whose frames stop a little before its probed end)
    repeat the last picture; none at all is an error naming the video."""
    from crossmodal.dataset.decoder import FrameDecoder, decode_size, scale_boxes
    from crossmodal.dataset.extract import choose_panel_frames
    from crossmodal.dataset.panels import panel_boxes

    width, height = info["width"], info["height"]
    try:
        boxes = panel_boxes(width, panels)
    except ValueError as err:
        raise media.MediaError(f"{video}: panel {panel}/{panels} cannot be cut from it ({err})") from None
    dsize = decode_size(width, height, boxes, size, fit)
    stride_ms = int(start_ms[1] - start_ms[0]) if len(start_ms) > 1 else None
    decoder = FrameDecoder(video, dsize, scale=dsize != (width, height), threads=threads, stride_ms=stride_ms)
    decoded = choose_panel_frames(decoder, start_ms, size, scale_boxes([boxes[panel - 1]], width, dsize[0]), fit)
    found = np.flatnonzero(decoded.frame_index >= 0)
    if len(found) == 0:
        raise media.MediaError(f"{video}: no frame at or after {start_ms[0] / 1000:.3f} s")
    images = decoded.images[0]
    images[found[-1] + 1:] = images[found[-1]]
    return images


@torch.no_grad()
def generate_lms(generator, codes: np.ndarray, z: np.ndarray, frames: int, device) -> np.ndarray:
    """float32 [b, 128, frames]: I2S's LMS (dB, the features' units) of image encodings [b, 128]."""
    code = torch.as_tensor(np.ascontiguousarray(codes), dtype=torch.float32, device=device)
    noise = torch.as_tensor(z, device=device).expand(len(code), -1)
    return generator.to_lms(generator(code, noise), frames).float().cpu().numpy()


def run(args: argparse.Namespace) -> None:
    from crossmodal.evaluation.inputs import load_generator
    from crossmodal.models.image import load_image_classifier, predict
    from crossmodal.sound.features import n_frames
    from crossmodal.training import device_from

    device = device_from(args)
    seconds = render.parse_seconds(args.seconds)
    panel, panels = render.parse_panel(args.panel)
    video = Path(args.video)
    info = media.video_info(video)  # missing, unreadable, no video stream: MediaError naming it
    start_s = seconds[0]
    end_s = info["duration_s"] if seconds[1] is None else min(seconds[1], info["duration_s"])
    if start_s >= info["duration_s"]:
        raise ValueError(f"{video}: --seconds starts at {start_s} s, the video lasts {info['duration_s']:.3f} s")
    grid = render.window_grid(args.window, args.stride, args.sr)
    n_samples = int(round((end_s - start_s) * args.sr))
    n = render.count_windows(grid, n_samples, str(video))
    start_ms = int(round(start_s * 1000)) + grid.start_ms(n)
    images = panel_frames(video, info, panel, panels, start_ms, args.image_size, args.panel_fit, args.threads)

    classifier = load_image_classifier(args.image_classifier, device)
    logits, codes = predict(classifier, images, args.batch_size, device)
    votes = collections.Counter(INSTRUMENT_NAMES[i] for i in logits.argmax(1) if i < len(INSTRUMENT_NAMES))
    generator, _ = load_generator(args.i2s, "i2s", device)
    z = fixed_noise(generator.z_dim, args.seed)
    frames = n_frames(grid.win_samples, args.hop_length)
    inversion = {"sr": args.sr, **{key: getattr(args, key) for key in INVERSION_KEYS}}
    hop = grid.start_samples(2)[1] if n > 1 else grid.win_samples
    fade = min(int(round(args.crossfade * args.sr)), hop, grid.win_samples - hop)
    joiner = render.CrossfadeJoiner(n, grid.win_samples, hop, fade)
    for start in range(0, n, args.batch_size):
        lms = generate_lms(generator, codes[start:start + args.batch_size], z, frames, device)
        clips = inverse.lms_to_audio_batch(lms, n_iter=args.griffin_lim_iters, length=grid.win_samples,
                                           seed=args.seed, **inversion)
        for i, clip in enumerate(clips.reshape(len(lms), -1)):
            joiner.add(start + i, clip)
    sound = np.zeros(n_samples, dtype=np.float32)
    sound[: min(n_samples, len(joiner.out))] = joiner.out[:n_samples]
    sound = inverse.normalize_peak(sound)

    out = Path(args.out)
    summary_path = Path(args.summary) if args.summary else out.with_suffix(".json")
    log.info("%s: panel %d/%d, %d windows -> %.2f s of I2S sound (sees: %s)", video, panel, panels, n,
             n_samples / args.sr, ", ".join(f"{k} {v}" for k, v in votes.most_common(3)))
    from crossmodal.store import atomic_outputs

    with render.scratch_dir() as scratch, atomic_outputs([out, summary_path]) as (video_tmp, summary_tmp):
        render.write_wav(scratch / "i2s.wav", sound, args.sr)
        render.mux_panel(video, panel, panels, start_s, n_samples / args.sr, scratch / "i2s.wav", video_tmp,
                         args.display_height, args.crf, args.preset, args.threads)
        record = {
            "kind": "accompany", "name": args.name or out.stem, "video": out.name, "source": str(video),
            "panel": f"{panel}/{panels}", "model": "i2s", "model_path": str(args.i2s),
            "instrument_seen": votes.most_common(1)[0][0] if votes else None, "votes": dict(votes.most_common()),
            "seconds": [seconds[0], seconds[1]], "windows": int(n), "duration_s": n_samples / args.sr,
            "fps": info["fps"], "seed": args.seed,
        }
        summary_tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    log.info("wrote %s and %s", out, summary_path)
