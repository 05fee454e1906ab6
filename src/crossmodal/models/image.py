"""The image encoder of Sec. 3.4 (Fig. 5): a CNN instrument classifier whose 128-d FC layer is
the image encoding.

Six 3x3 convolutions and three fully connected layers, trained with a softmax loss on the 13
instrument labels. Its second-to-last layer (128 units) encodes every window's image for I2S;
the whole classifier is also the judge Gamma (Sec. 5.2.2) that classifies generated images, so
it is saved with its sizes and reloaded by :func:`load_image_classifier` alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from crossmodal.models import ENCODING_DIM
from crossmodal.urmp import INSTRUMENT_NAMES

#: How the last conv map reaches the FC layers.
POOLS = ("flatten", "max")


def images_to_tensor(images: np.ndarray | torch.Tensor, device: torch.device | str | None = None) -> torch.Tensor:
    """uint8 RGB images [N, S, S, 3] -> float32 [N, 3, S, S] in [-1, 1].

    The one pixel scaling of the project: the S2I generator's tanh output lives in the same
    range, so real and generated images go through the classifier (Gamma) alike.
    """
    x = torch.as_tensor(images)
    if device is not None:
        x = x.to(device, non_blocking=True)
    return x.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


class ImageClassifier(nn.Module):
    """Fig. 5: six 3x3 conv layers (BN, ReLU; 2x2 max-pool after every second) and three FC layers.

    ``channels``: the six convolutions' widths; ``hidden``: the first FC layer's width. The
    second FC layer (``ENCODING_DIM`` units, ReLU) is the encoding; the third gives the class
    logits. ``pool``: how the last conv map [C, S/8, S/8] reaches the FC layers: ``"flatten"``
    (every position its own weights) or ``"max"`` (global max over positions, C values: an
    instrument is recognised wherever the player holds it). Input: float [N, 3, S, S] in
    [-1, 1] with S divisible by 8.
    """

    def __init__(
        self,
        n_classes: int = len(INSTRUMENT_NAMES),
        image_size: int = 64,
        channels: Sequence[int] = (16, 16, 32, 32, 64, 64),
        hidden: int = 256,
        dropout: float = 0.5,
        pool: str = "flatten",
    ) -> None:
        super().__init__()
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        channels = [int(c) for c in channels]
        if len(channels) != 6:
            raise ValueError(f"the image classifier has six conv layers; got {len(channels)} widths")
        if image_size % 8:
            raise ValueError(f"image_size must be divisible by 8 (three 2x2 poolings), got {image_size}")
        self.kwargs: dict[str, Any] = {
            "n_classes": int(n_classes), "image_size": int(image_size), "channels": channels,
            "hidden": int(hidden), "dropout": float(dropout), "pool": pool,
        }
        layers: list[nn.Module] = []
        previous = 3
        for i, width in enumerate(channels):
            layers += [nn.Conv2d(previous, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
            if i % 2 == 1:
                layers.append(nn.MaxPool2d(2))
            previous = width
        self.features = nn.Sequential(*layers)
        side = 1 if pool == "max" else image_size // 8
        self.encoder_fc = nn.Sequential(
            nn.AdaptiveMaxPool2d(1) if pool == "max" else nn.Identity(),
            nn.Flatten(),
            nn.Linear(previous * side * side, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(hidden, ENCODING_DIM), nn.ReLU(inplace=True),
        )
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(ENCODING_DIM, n_classes)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The image encoding, [N, 128]: the second-to-last layer's activations."""
        return self.encoder_fc(self.features(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, n_classes]."""
        return self.classifier(self.dropout(self.encode(x)))


@torch.no_grad()
def predict(model: ImageClassifier, images: np.ndarray, batch_size: int = 256,
            device: torch.device | str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """(logits float32 [N, n_classes], encodings float32 [N, 128]) of uint8 images [N, S, S, 3].

    Runs in eval mode (no dropout, BN running statistics) and restores the model's mode.
    """
    was_training = model.training
    model.eval()
    logits, codes = [], []
    try:
        for start in range(0, len(images), batch_size):
            x = images_to_tensor(np.ascontiguousarray(images[start:start + batch_size]), device)
            code = model.encode(x)
            codes.append(code.float().cpu())
            logits.append(model.classifier(code).float().cpu())
    finally:
        model.train(was_training)
    n_classes = model.classifier.out_features
    if not logits:
        return np.zeros((0, n_classes), np.float32), np.zeros((0, ENCODING_DIM), np.float32)
    return torch.cat(logits).numpy(), torch.cat(codes).numpy()


def classifier_payload(model: ImageClassifier, class_names: Sequence[str] = INSTRUMENT_NAMES,
                       **extra: Any) -> dict[str, Any]:
    """What :func:`load_image_classifier` needs: the sizes and ``extra`` (accuracy, names)."""
    return {"kwargs": dict(model.kwargs), "class_names": list(class_names), **extra}


def load_image_classifier(path: str | os.PathLike, device: torch.device | str = "cpu") -> ImageClassifier:
    """The trained classifier (Gamma) from the image-encoder step's model file, in eval mode.

    The file is :meth:`crossmodal.training.TrainingRun.save_final`'s, with
    :func:`classifier_payload` as its ``extra``.
    """
    from crossmodal.training import CheckpointError, load_models

    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:
        raise CheckpointError(f"{path}: cannot read image classifier: {err}") from err
    kwargs = payload.get("extra", {}).get("kwargs")
    if kwargs is None:
        raise CheckpointError(f"{path}: is not an image classifier file (no sizes in 'extra')")
    model = ImageClassifier(**kwargs)
    load_models(path, {"image_classifier": model})
    return model.to(device).eval()
