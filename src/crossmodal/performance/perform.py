"""Turn a recording into a video of a generated player (sound -> pictures, beyond the paper).

Every window of the recording (0.5 s every stride, as the dataset cuts them) is encoded by the
sound encoder the chosen GAN was trained with (the LMS audio classifier's 128-d layer for
S2I-C, S2I-N and pose S2I, the autoencoder for S2I-A), computed from the raw sound exactly as
the feature store computes it; the generator draws one picture per window, with one noise z
for the whole video so the player does not flicker. Window k's picture is frame k, shown at
k * stride: the video runs at 1 / stride fps (10 for 0.1 s), H.264, upscaled for viewing, with
the recording's own sound as AAC. Frames are generated and piped to ffmpeg in batches.

--audio takes any sound file ffmpeg reads (stereo is averaged, the rate converted); --track
takes an extracted URMP track's folder (results/tracks/<id>), whose frames.npy puts the real
player's panel beside the generated one. --model auto picks the pose model of the instrument
the sound classifier hears most often, when that one was trained, else S2I-C. Writes --out
(MP4) and --summary (JSON: model, instrument heard, timing, F0 file) together or not at all.
"""

from __future__ import annotations

import argparse
import collections
import logging
from pathlib import Path

import numpy as np
import torch

from crossmodal import media
from crossmodal.performance import render
from crossmodal.config import add_device_arguments, section_defaults
from crossmodal.sound import features
from crossmodal.sound.feature_store import _TYPES as FEATURE_TYPES  # the features step's own flags
from crossmodal.sound.feature_store import params_from_args as feature_params
from crossmodal.store import atomic_outputs
from crossmodal.urmp import INSTRUMENT_NAMES

log = logging.getLogger(__name__)

#: --model name -> (model folder under --gan-dir, sound encoder it was trained with).
S2I_MODELS = {"s2i_c": ("s2i_c", "classifier"), "s2i_n": ("s2i_n", "classifier"),
              "s2i_a": ("s2i_a", "autoencoder")}


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags ``perform`` and ``accompany`` share: the window grid, the video, runtime."""
    ds, perf = section_defaults("dataset"), section_defaults("performances")
    parser.add_argument("--seconds", default=None, help="only this part of the input, A-B in seconds (e.g. 10-40)")
    parser.add_argument("--name", default=None, help="the performance's name on the page (default: --out's stem)")
    parser.add_argument("--window", type=float, default=ds["window_s"], help="window length, s (default %(default)s)")
    parser.add_argument("--stride", type=float, default=ds["stride_s"], help="window stride = 1 / fps, s (default %(default)s)")
    parser.add_argument("--sr", type=int, default=ds["audio_sr"], help="the models' sample rate, Hz (default %(default)s)")
    parser.add_argument("--display-height", type=int, default=perf["display_height"], help="video height, px (default %(default)s)")
    parser.add_argument("--crf", type=int, default=perf["crf"], help="H.264 quality, lower is better (default %(default)s)")
    parser.add_argument("--preset", default=perf["preset"], help="x264 preset (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=perf["batch_size"], help="windows per batch (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the noise z held for the whole video")
    add_device_arguments(parser, amp=False)
    parser.add_argument("--summary", type=Path, default=None, help="JSON record beside the video (default: --out with .json)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--audio", type=Path, help="a recording: WAV, FLAC, MP3 (anything ffmpeg reads)")
    source.add_argument("--track", type=Path, help="an extracted track's folder (audio.npy, frames.npy): real player beside")
    parser.add_argument("--out", type=Path, required=True, help="the video, .mp4")
    parser.add_argument("--model", default="auto", help="s2i_c | s2i_n | s2i_a | pose:<instrument> | auto (default %(default)s)")
    parser.add_argument("--gan-dir", type=Path, default=Path("results/models/gan"), help="folder of the trained GANs")
    parser.add_argument("--sound-classifier", type=Path, required=True, help="the LMS audio classifier's model.pt (S2I-C's encoder)")
    parser.add_argument("--sound-autoencoder", type=Path, default=None, help="the sound autoencoder's model.pt (S2I-A's encoder)")
    parser.add_argument("--f0", type=Path, default=None, help="the recording's URMP F0s file, for the page's pitch track")
    defaults = section_defaults("features")
    for key, kind in FEATURE_TYPES.items():
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=kind, default=defaults[key],
                            help="the features' setting (default %(default)s)")
    add_common_arguments(parser)


# ------------------------------------------------------------------ models
def resolve_model(model: str, gan_dir: Path) -> tuple[Path, str]:
    """(model.pt, sound encoder kind) of --model; ValueError naming it when unknown or not trained."""
    if model.startswith("pose:"):
        instrument = model.split(":", 1)[1]
        if instrument not in INSTRUMENT_NAMES:
            raise ValueError(f"--model {model}: {instrument!r} is not an instrument ({', '.join(INSTRUMENT_NAMES)})")
        folder, encoder = f"pose_s2i_{instrument}", "classifier"
    elif model in S2I_MODELS:
        folder, encoder = S2I_MODELS[model]
    else:
        raise ValueError(f"--model {model}: expected s2i_c, s2i_n, s2i_a, pose:<instrument> or auto")
    path = gan_dir / folder / "model.pt"
    if not path.is_file():
        trained = sorted(p.parent.name for p in gan_dir.glob("*/model.pt"))
        raise ValueError(f"--model {model} was not trained: {path} does not exist "
                         f"(trained in {gan_dir}: {', '.join(trained) or 'none'})")
    return path, encoder


def auto_model(votes: collections.Counter, gan_dir: Path) -> str:
    """pose:<the instrument heard most often> when that pose model was trained, else s2i_c."""
    instrument = votes.most_common(1)[0][0]
    if (gan_dir / f"pose_s2i_{instrument}" / "model.pt").is_file():
        return f"pose:{instrument}"
    log.info("no pose model for %s (heard most often) in %s: S2I-C", instrument, gan_dir)
    return "s2i_c"


@torch.no_grad()
def iter_encodings(y: np.ndarray, grid, n: int, classifier: torch.nn.Module, rep: str, params, device, batch: int,
                   autoencoder: torch.nn.Module | None = None):
    """Per batch of the n windows of ``y``, in order: (first window, encodings float32 [b, 128]
    the generator is conditioned on, the classifier's labels int64 [b]). Each window's ``rep``
    is computed as the feature store computes it; the encodings are the classifier's, or the
    autoencoder's of the window's LMS when one is given (S2I-A)."""
    for start in range(0, n, batch):
        audio = render.windows_of(y, grid, np.arange(start, min(n, start + batch)))
        x = torch.from_numpy(features.compute(rep, audio, params)).to(device)
        code = classifier.encode(x)
        labels = classifier.fc3(code).argmax(1).cpu().numpy()  # its last layer (eval mode: no dropout)
        if autoencoder is not None:
            lms = x if rep == "lms" else torch.from_numpy(features.compute("lms", audio, params)).to(device)
            code = autoencoder.encode(lms)
        yield start, code.float().cpu().numpy(), labels


def encode_windows(y: np.ndarray, grid, n: int, classifier: torch.nn.Module, rep: str, params, device, batch: int,
                   autoencoder: torch.nn.Module | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All of :func:`iter_encodings` at once: (encodings [n, 128], labels [n])."""
    parts = list(iter_encodings(y, grid, n, classifier, rep, params, device, batch, autoencoder))
    return np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def fixed_noise(z_dim: int, seed: int) -> np.ndarray:
    """float32 [1, z_dim]: the one z of a whole video (evaluation's window noise of window 0)."""
    from crossmodal.evaluation.generate import window_noise

    return window_noise(np.zeros(1, dtype=np.int64), z_dim, seed)


@torch.no_grad()
def generate_frames(generator: torch.nn.Module, codes: np.ndarray, z: np.ndarray, device) -> np.ndarray:
    """uint8 [b, S, S, 3]: the generator's pictures of encodings ``codes`` [b, 128] under one z."""
    from crossmodal.evaluation.generate import images_to_uint8

    code = torch.as_tensor(np.ascontiguousarray(codes), dtype=torch.float32, device=device)
    noise = torch.as_tensor(z, device=device).expand(len(code), -1)
    return images_to_uint8(generator(code, noise))


# ------------------------------------------------------------------ the step
def load_recording(args: argparse.Namespace, seconds) -> tuple[np.ndarray, np.ndarray | None, int, str]:
    """(mono sound at --sr, the real panel frames or None, the frames' first row, its name)."""
    if args.audio is not None:
        y = render.decode_audio(args.audio, args.sr)
        return render.trim(y, args.sr, seconds, str(args.audio)), None, 0, str(args.audio)
    from crossmodal.store import open_array

    track = Path(args.track)
    y = open_array(track / "audio.npy")
    frames = open_array(track / "frames.npy")
    if y.ndim != 1 or len(y) == 0:
        raise media.MediaError(f"{track / 'audio.npy'}: expected mono float32 [samples], found shape {y.shape}")
    if frames.ndim != 4 or frames.dtype != np.uint8:
        raise media.MediaError(f"{track / 'frames.npy'}: expected uint8 [n, S, S, 3], found {frames.dtype} {frames.shape}")
    first = seconds[0] * 1000 / render.to_ms(args.stride, "stride")
    if abs(first - round(first)) > 1e-6:
        raise ValueError(f"--seconds {args.seconds}: a track starts on a window, i.e. a multiple of the stride ({args.stride} s)")
    return render.trim(np.asarray(y, dtype=np.float32), args.sr, seconds, str(track)), frames, int(round(first)), str(track)


def run(args: argparse.Namespace) -> None:
    from crossmodal.models.gan import load_gan
    from crossmodal.models.sound import load_audio_classifier, load_sound_autoencoder
    from crossmodal.training import device_from

    device = device_from(args)
    # The nets are small: torch's own threads would only compete with ffmpeg's encoder, which
    # runs beside this process (--threads goes to it). Measured on the shared 2-core machine:
    # 2 torch threads cost 4x the CPU time of 1 for the same windows.
    torch.set_num_threads(1)
    seconds = render.parse_seconds(args.seconds)
    if args.model != "auto":
        resolve_model(args.model, args.gan_dir)  # refuse an untrained model before any work
    grid = render.window_grid(args.window, args.stride, args.sr)
    y, real, first_row, source = load_recording(args, seconds)
    n = render.count_windows(grid, len(y), source)
    if real is not None:
        n = min(n, len(real) - first_row)
        if n < 1:
            raise media.MediaError(f"{args.track}: frames.npy has {len(real)} windows, none after --seconds {args.seconds}")
    params = feature_params(args)

    classifier, cls_extra = load_audio_classifier(args.sound_classifier, device)
    rep = cls_extra.get("representation", "lms")
    autoencoder = None
    if args.model != "auto":
        model = args.model
        model_path, encoder_kind = resolve_model(model, args.gan_dir)
        if encoder_kind == "autoencoder":
            if args.sound_autoencoder is None:
                raise ValueError(f"--model {model} needs --sound-autoencoder (the encoder it was trained with)")
            autoencoder, _ = load_sound_autoencoder(args.sound_autoencoder, device)
    batches = iter_encodings(y, grid, n, classifier, rep, params, device, args.batch_size, autoencoder)
    votes: collections.Counter = collections.Counter()
    if args.model == "auto":  # the model depends on what the whole recording sounds like
        batches = list(batches)
        for _, _, labels in batches:
            votes.update(INSTRUMENT_NAMES[i] for i in labels)
        model = auto_model(votes, args.gan_dir)
        model_path, _ = resolve_model(model, args.gan_dir)
    generator, _, gan_extra = load_gan(model_path, device=device)
    if gan_extra.get("kind") != "s2i":
        raise ValueError(f"{model_path}: is a {gan_extra.get('kind')} GAN, perform needs an S2I one")
    z = fixed_noise(generator.z_dim, args.seed)

    m = render.video_frames(grid, len(y))
    size = generate_frames(generator, np.zeros((1, generator.compress.fc.in_features), np.float32), z, device).shape[1]
    if real is not None and real.shape[1:3] != (size, size):
        raise ValueError(f"{args.track}: frames are {real.shape[1]}x{real.shape[2]}, the generator draws {size}x{size}")
    width = size * (2 if real is not None else 1)
    log.info("%s: %d windows -> %d frames at %s fps, model %s", source, n, m, render.frame_rate(grid), model)
    out = Path(args.out)
    summary_path = Path(args.summary) if args.summary else out.with_suffix(".json")
    with render.scratch_dir() as scratch, atomic_outputs([out, summary_path]) as (video_tmp, summary_tmp):
        render.write_wav(scratch / "sound.wav", y, args.sr)
        # ffmpeg encodes each batch while the next one's windows are computed and drawn.
        with render.VideoEncoder(video_tmp, width, size, render.frame_rate(grid), scratch / "sound.wav",
                                 args.display_height, args.crf, args.preset, args.threads) as encoder:
            for start, codes, labels in batches:
                if args.model != "auto":
                    votes.update(INSTRUMENT_NAMES[i] for i in labels)
                frames = generate_frames(generator, codes, z, device)
                if real is not None:
                    frames = np.concatenate([np.asarray(real[first_row + start: first_row + start + len(codes)]), frames],
                                            axis=2)
                encoder.write(frames)
            for start in range(n, m, args.batch_size):  # the sound's last stride: the last window's picture, held
                encoder.write(np.repeat(frames[-1:], min(args.batch_size, m - start), axis=0))
        log.info("the sound classifier hears: %s", ", ".join(f"{k} {v}" for k, v in votes.most_common(3)))
        import json

        record = {
            "kind": "perform", "name": args.name or out.stem, "video": out.name, "source": source,
            "model": model, "model_path": str(model_path), "requested_model": args.model,
            "instrument_heard": votes.most_common(1)[0][0], "votes": dict(votes.most_common()),
            "real_panel": real is not None, "seconds": [seconds[0], seconds[1]], "windows": int(n),
            "frames": int(m), "fps": float(render.frame_rate(grid)), "duration_s": len(y) / args.sr,
            "seed": args.seed, "f0_file": str(args.f0) if args.f0 is not None and Path(args.f0).is_file() else None,
        }
        summary_tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    log.info("wrote %s (%d frames, %.2f s) and %s", out, m, len(y) / args.sr, summary_path)
