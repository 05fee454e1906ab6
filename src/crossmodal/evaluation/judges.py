"""The classifiers that judge generated samples: Gamma for images (Sec. 5.2.2) and the sound
classifier for LMS (Sec. 5.4). Both give class logits and their 128-d encoding, the latter
for the Frechet distance between real and generated samples."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from crossmodal.models import ENCODING_DIM

#: Real frames are read and judged this many windows at a time (bounds memory on full URMP).
CHUNK = 4096


class ImageJudge:
    """Gamma, the image classifier of Sec. 3.4, on uint8 RGB images [n, S, S, 3]."""

    def __init__(self, path: str | os.PathLike, device: torch.device | str = "cpu", batch_size: int = 256) -> None:
        from crossmodal.models.image import load_image_classifier

        self.model = load_image_classifier(path, device)
        self.device, self.batch_size = device, batch_size

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits float32 [n, n_classes], encodings float32 [n, 128])."""
        from crossmodal.models.image import predict

        return predict(self.model, images, self.batch_size, self.device)


class SoundJudge:
    """The sound classifier of Sec. 3.3 (the LMS one that encodes sound for S2I-C), on LMS in
    the features' units (dB) [n, n_mels, t]; it standardises its input itself."""

    def __init__(self, path: str | os.PathLike, device: torch.device | str = "cpu", batch_size: int = 256) -> None:
        from crossmodal.models.sound import load_audio_classifier

        self.model, self.extra = load_audio_classifier(path, device)
        self.in_shape = tuple(self.extra["in_shape"])
        self.device, self.batch_size = device, batch_size

    @torch.no_grad()
    def __call__(self, lms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(logits float32 [n, n_classes], encodings float32 [n, 128])."""
        if tuple(lms.shape[1:]) != self.in_shape:
            raise ValueError(f"the sound classifier takes [n, {self.in_shape[0]}, {self.in_shape[1]}] LMS, "
                             f"got {tuple(lms.shape)}")
        self.model.eval()
        logits, codes = [], []
        for start in range(0, len(lms), self.batch_size):
            x = torch.as_tensor(np.asarray(lms[start:start + self.batch_size], dtype=np.float32)).to(self.device)
            code = self.model.encode(x)
            codes.append(code.float().cpu().numpy())
            logits.append(self.model.fc3(code).float().cpu().numpy())
        n_classes = self.model.fc3.out_features
        if not logits:
            return np.zeros((0, n_classes), np.float32), np.zeros((0, ENCODING_DIM), np.float32)
        return np.concatenate(logits), np.concatenate(codes)


def judge_real(judge, windows: pd.DataFrame, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Gamma on the real frames of ``ids``: (predictions int [n], encodings [n, 128])."""
    from crossmodal import store

    predictions, codes = [], []
    for start in range(0, len(ids), CHUNK):
        frames = store.load_frames(windows.iloc[ids[start:start + CHUNK]])
        logits, code = judge(frames)
        predictions.append(logits.argmax(1))
        codes.append(code)
    if not predictions:
        return np.zeros(0, np.int64), np.zeros((0, ENCODING_DIM), np.float32)
    return np.concatenate(predictions), np.concatenate(codes)


def judge_generated(judge, generator, encodings: np.ndarray, ids: np.ndarray, seed: int, device,
                    batch_size: int, label: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Gamma on images generated from the sounds of ``ids``: (predictions [n], encodings [n, 128])."""
    from crossmodal.evaluation.generate import iter_images

    predictions, codes = [], []
    batches = iter_images(generator, encodings[ids], ids, seed, device, batch_size)
    for images in tqdm(batches, total=-(-len(ids) // batch_size), desc=label, leave=False, disable=None):
        logits, code = judge(images)
        predictions.append(logits.argmax(1))
        codes.append(code)
    if not predictions:
        return np.zeros(0, np.int64), np.zeros((0, ENCODING_DIM), np.float32)
    return np.concatenate(predictions), np.concatenate(codes)
