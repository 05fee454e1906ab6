"""Training throughput of S2I-C: the project's in-memory data path against per-pair files.

The project keeps every training pair in memory (the frames gathered from the per-track
arrays, the sound encodings computed once by the encode-sound step) and gathers a batch by
indexing. The released Sub-URMP is one JPEG and one WAV file per pair; a reader of it decodes
the JPEG, loads the WAV and computes the LMS per item in a DataLoader, then runs the sound
encoder on the batch's LMS before the GAN step (S2I-C is conditioned on the encoding). Both
paths drive the same S2I-C step (GANTrainer.step: a D update on real, wrong and fake pairs, then
a G update) with the same networks, in the same run.

Reported per path: pairs per second, mean step time, and the share of the step time spent
waiting for data (gathering the batch in memory, or waiting on the DataLoader and moving the
batch to the device). Goal: the project's data wait under 5% of the step time.

    .venv/bin/python benchmarks/train_step.py                # CPU here; CUDA when available
    .venv/bin/python benchmarks/train_step.py --pairs 4096 --steps 100 --ngf 128 --ndf 64   # GPU, paper widths

Data are generated once in benchmarks/out/ (git-ignored): N JPEG + WAV pairs laid out as
Sub-URMP's img/ and chunk/ folders, and the same pairs as arrays.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from crossmodal.gan.objective import WrongPairSampler
from crossmodal.gan.train import GANData, GANSettings, GANTrainer
from crossmodal.models.gan import I2S_SHAPE
from crossmodal.models.image import images_to_tensor
from crossmodal.urmp import INSTRUMENT_NAMES

OUT = Path(__file__).resolve().parent / "out"
SR, WINDOW = 44100, 22050
LMS_ARGS = dict(sr=SR, n_fft=2048, hop_length=512, n_mels=128)  # the paper's LMS: 128 x 44


# ------------------------------------------------------------------ data
def make_pairs(root: Path, n: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Writes n Sub-URMP-style pairs (img/<inst>/<inst>NN_<ms>.jpg, chunk/.../.wav) once; returns labels and names."""
    import soundfile as sf
    from PIL import Image

    labels = np.arange(n) % len(INSTRUMENT_NAMES)
    names = [f"{INSTRUMENT_NAMES[l]}/{INSTRUMENT_NAMES[l]}01_{i * 100}" for i, l in enumerate(labels)]
    stamp = root / f"pairs_{n}_{seed}.done"
    if not stamp.exists():
        rng = np.random.default_rng(seed)
        t = np.arange(WINDOW) / SR
        for i, (label, name) in enumerate(zip(labels, names)):
            image = np.full((64, 64, 3), 40, np.uint8)
            y0, x0 = rng.integers(0, 32, 2)
            image[y0:y0 + 32, x0:x0 + 32] = (np.array([label * 19, 255 - label * 17, (label * 67) % 256]))
            image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
            (root / "img" / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image).save(root / "img" / f"{name}.jpg", quality=95)
            f0 = 110.0 * 2 ** (label / 4 + rng.uniform(0, 0.5))
            audio = 0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.normal(size=WINDOW)
            (root / "chunk" / name).parent.mkdir(parents=True, exist_ok=True)
            sf.write(root / "chunk" / f"{name}.wav", audio.astype(np.float32), SR, subtype="PCM_16")
        stamp.write_text("ok\n")
    return {"labels": labels, "names": np.array(names)}


def lms_of(audio: np.ndarray) -> np.ndarray:
    """LMS of one window (or a batch [N, samples]) with librosa, dB [.., 128, 44]."""
    import librosa

    return librosa.power_to_db(librosa.feature.melspectrogram(y=audio, **LMS_ARGS), ref=1.0, top_db=80.0).astype(np.float32)


class SubURMPFiles(torch.utils.data.Dataset):
    """Per item: decode the JPEG, decode a wrong pair's JPEG (another instrument, Eq. 5), load the WAV, its LMS."""

    def __init__(self, root: Path, names: np.ndarray, labels: np.ndarray, seed: int = 0) -> None:
        self.root, self.names, self.labels = root, names, labels
        self.sampler = WrongPairSampler(labels, "other_instrument")
        self.seed = seed

    def __len__(self) -> int:
        return len(self.names)

    def _image(self, i: int) -> np.ndarray:
        from PIL import Image

        with Image.open(self.root / "img" / f"{self.names[i]}.jpg") as image:
            return np.array(image.convert("RGB"))

    def __getitem__(self, i: int):
        import soundfile as sf

        wrong = int(self.sampler(np.array([i]), np.random.default_rng([self.seed, i]))[0])
        audio, _ = sf.read(self.root / "chunk" / f"{self.names[i]}.wav", dtype="float32")
        return torch.from_numpy(self._image(i)), torch.from_numpy(self._image(wrong)), torch.from_numpy(lms_of(audio))


# ------------------------------------------------------------------ timing
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def random_gan_data(kind: str, n: int, seed: int = 0) -> GANData:
    """``n`` random in-memory pairs for a GAN of ``kind`` (a step's cost depends on the shapes only)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 13
    encodings = rng.normal(size=(n, 128)).astype(np.float32)
    if kind == "s2i":
        return GANData(encodings, rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8), labels)
    lms = rng.uniform(-1, 1, (n, 1, *I2S_SHAPE)).astype(np.float32)
    return GANData(encodings, lms, labels, lms_range=(-80.0, 0.0))


def measure(batches, step, device: torch.device, steps: int, warmup: int) -> dict[str, float]:
    """Runs ``step(batch)`` for warmup + steps batches from the iterator ``batches``; times the last ``steps``."""
    wait = total = 0.0
    done = 0
    _sync(device)
    mark = time.perf_counter()
    for i in range(warmup + steps):
        batch = next(batches)  # includes host -> device and any per-batch preparation
        _sync(device)
        got = time.perf_counter()
        step(batch)
        _sync(device)
        end = time.perf_counter()
        if i >= warmup:
            wait += got - mark
            total += end - mark
            done += 1
        mark = end
    return {"steps": done, "step_ms": 1000 * total / done, "wait_ms": 1000 * wait / done, "wait_share": wait / total}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1024, help="pairs generated (and cycled through)")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per path")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (workers start, caches)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--ngf", type=int, default=16, help="S2I generator width (demo config 16, GAN-CLS 128)")
    parser.add_argument("--ndf", type=int, default=16, help="S2I discriminator width (demo config 16, GAN-CLS 64)")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader worker processes of the file path")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    from crossmodal.models.sound import AudioClassifier
    from crossmodal.training import pick_device, set_threads

    set_threads(args.threads)
    device = pick_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pairs = make_pairs(args.out, args.pairs)
    labels, names = pairs["labels"], pairs["names"]
    print(f"data: {args.pairs} pairs in {args.out} ({time.perf_counter() - t0:.1f} s)", file=sys.stderr)

    # The sound encoder of S2I-C (Table 1's 4-layer LMS classifier; its weights do not matter here).
    encoder = AudioClassifier((128, 44), len(INSTRUMENT_NAMES), 4, (8, 16, 32, 32)).to(device).eval()

    # The project's arrays: frames, and encodings computed once (the encode-sound step).
    dataset = SubURMPFiles(args.out, names, labels)
    frames = np.stack([dataset._image(i) for i in range(len(names))])
    import soundfile as sf

    audio = np.stack([sf.read(args.out / "chunk" / f"{n}.wav", dtype="float32")[0] for n in names])
    with torch.no_grad():
        encodings = encoder.encode(torch.from_numpy(lms_of(audio)).to(device)).float().cpu().numpy()

    settings = GANSettings(kind="s2i", batch_size=args.batch_size, ngf=args.ngf, ndf=args.ndf, epochs=1, amp=True)
    trainer = GANTrainer(args.out / "run_scratch", GANData(encodings, frames, labels), settings, device)
    z = lambda n: torch.randn(n, settings.z_dim, device=device)

    # Path 1: in memory (GANTrainer.fetch: index the arrays already on the device).
    def memory_batches():
        rng = np.random.default_rng(0)
        while True:
            for start in range(0, len(labels) - args.batch_size + 1, args.batch_size):
                yield trainer.fetch(rng.permutation(len(labels))[:args.batch_size], rng)

    memory = measure(memory_batches(), lambda b: trainer.step(*b, z(len(b[0]))), device, args.steps, args.warmup)

    # Path 2: one JPEG + one WAV per pair through a DataLoader, LMS per item, encoder per batch.
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                                         num_workers=args.workers, pin_memory=device.type == "cuda",
                                         persistent_workers=args.workers > 0)

    def file_batches():
        while True:
            for image, wrong, lms in loader:
                yield (image.to(device, non_blocking=True), wrong.to(device, non_blocking=True),
                       lms.to(device, non_blocking=True))

    def file_step(batch):
        image, wrong, lms = batch
        with torch.no_grad():
            encoding = encoder.encode(lms)
        trainer.step(encoding, images_to_tensor(image), images_to_tensor(wrong), z(len(image)))

    files = measure(file_batches(), file_step, device, args.steps, args.warmup)

    result = {
        "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
        "torch": torch.__version__, "python": platform.python_version(), "threads": args.threads,
        "workers": args.workers, "batch_size": args.batch_size, "ngf": args.ngf, "ndf": args.ndf, "pairs": args.pairs,
        "paths": {},
    }
    for name, m in (("in-memory arrays (project)", memory), ("JPEG + WAV per pair (Sub-URMP files)", files)):
        m["pairs_per_s"] = args.batch_size * 1000 / m["step_ms"]
        result["paths"][name] = m
    (args.out / "train_step.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"S2I-C training step, batch {args.batch_size}, ngf {args.ngf}, ndf {args.ndf}, {result['device']}, "
          f"{args.threads} threads, {args.workers} loader workers")
    print(f"{'data path':40s} {'pairs/s':>9s} {'step ms':>9s} {'wait ms':>9s} {'wait %':>7s}")
    for name, m in result["paths"].items():
        print(f"{name:40s} {m['pairs_per_s']:9.1f} {m['step_ms']:9.1f} {m['wait_ms']:9.2f} {100 * m['wait_share']:7.2f}")
    print(f"speed-up of the project's path: {memory['step_ms'] and files['step_ms'] / memory['step_ms']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
