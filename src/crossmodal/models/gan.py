"""The GAN-CLS networks of Sec. 3.1: S2I and I2S generators and discriminators.

Both directions follow Reed et al.'s GAN-CLS (DCGAN layers): the 128-d encoding of the other
modality is compressed to 64 by an FC layer and a leaky ReLU (phi(A) for sound, varphi(I) for
images), concatenated with the noise z and deconvolved into the data; the discriminator scores
a (data, compressed encoding) pair by joining the encoding, replicated 4x4, to its 4x4 feature
map. Discriminators return logits; the score S = sigmoid(logit) of Eq. 4 is applied in the
losses (``crossmodal.gan.train``), which is the same maths and stabler in low precision.

Spectrograms are rectangular (LMS 128 mel bins x 34 frames); the I2S networks reach and leave
a square 32x32 map through two layers with kernel 4x4, stride 2x1 and padding 1:
frequency 32 -> 64 -> 128 (stride 2), time 32 -> 33 -> 34 (stride 1), and back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from crossmodal.models import ENCODING_DIM

#: LMS size of a 0.5 s window (Sec. 3.3) and the size the I2S networks work at (Sec. 3.1).
LMS_SHAPE = (128, 44)
I2S_SHAPE = (128, 34)
RESIZE_MODES = ("interpolate", "numpy")


# ------------------------------------------------------------------ building blocks
class Compress(nn.Module):
    """phi(A) / varphi(I): the 128-d encoding -> ``condition_dim`` by FC + leaky ReLU (Sec. 3.1)."""

    def __init__(self, encoding_dim: int = ENCODING_DIM, condition_dim: int = 64) -> None:
        super().__init__()
        self.fc = nn.Linear(encoding_dim, condition_dim)
        self.act = nn.LeakyReLU(0.2, inplace=True)

    def forward(self, encoding: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(encoding))


def _up(cin: int, cout: int, kernel=4, stride=2, padding=1) -> list[nn.Module]:
    return [nn.ConvTranspose2d(cin, cout, kernel, stride, padding, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def _down(cin: int, cout: int, kernel=4, stride=2, padding=1, norm=True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, padding, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    return layers + [nn.LeakyReLU(0.2, inplace=True)]


def _same(cin: int, cout: int, leaky: bool) -> list[nn.Module]:
    """An extra 3x3 stride-1 layer that keeps the map's size (the paper's added I2S layers)."""
    act = nn.LeakyReLU(0.2, inplace=True) if leaky else nn.ReLU(inplace=True)
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), act]


def init_weights(module: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), batch-norm scales N(1, 0.02), biases 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class _Generator(nn.Module):
    """[z, phi(encoding)] seen as a 1x1 map -> 4x4 x 8ngf -> 8x8 x 4ngf -> 16x16 x 2ngf -> 32x32 x ngf."""

    def __init__(self, encoding_dim: int, condition_dim: int, z_dim: int, ngf: int) -> None:
        super().__init__()
        self.z_dim = z_dim
        self.compress = Compress(encoding_dim, condition_dim)
        self.square = nn.Sequential(
            *_up(z_dim + condition_dim, ngf * 8, 4, 1, 0),  # 1 -> 4
            *_up(ngf * 8, ngf * 4),                          # 4 -> 8
            *_up(ngf * 4, ngf * 2),                          # 8 -> 16
            *_up(ngf * 2, ngf),                              # 16 -> 32
        )

    def square_map(self, encoding: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """The 32x32 x ngf map of G(z, phi(encoding)); encoding [N, 128], z [N, Z]."""
        if z.shape != (encoding.shape[0], self.z_dim):
            raise ValueError(f"z must have shape [{encoding.shape[0]}, {self.z_dim}], got {list(z.shape)}")
        x = torch.cat([z, self.compress(encoding)], dim=1)
        return self.square(x[:, :, None, None])


class _JoinedScore(nn.Module):
    """The GAN-CLS head: a 4x4 x C map and the compressed encoding replicated 4x4 -> one logit."""

    def __init__(self, channels: int, encoding_dim: int, condition_dim: int) -> None:
        super().__init__()
        self.compress = Compress(encoding_dim, condition_dim)
        self.joint = nn.Sequential(*_down(channels + condition_dim, channels, 1, 1, 0))
        self.score = nn.Conv2d(channels, 1, 4, 1, 0)

    def forward(self, features: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
        if features.shape[-2:] != (4, 4):
            raise ValueError(f"the joined head expects a 4x4 map, got {tuple(features.shape[-2:])}")
        condition = self.compress(encoding)[:, :, None, None].expand(-1, -1, 4, 4)
        return self.score(self.joint(torch.cat([features, condition], dim=1))).flatten()


# ------------------------------------------------------------------ S2I
class S2IGenerator(_Generator):
    """G_{S->I}(z, phi(A)): a 64x64x3 image in [-1, 1] (tanh) from a sound encoding and noise."""

    def __init__(self, encoding_dim: int = ENCODING_DIM, condition_dim: int = 64, z_dim: int = 100, ngf: int = 64) -> None:
        super().__init__(encoding_dim, condition_dim, z_dim, ngf)
        self.kwargs = {"encoding_dim": encoding_dim, "condition_dim": condition_dim, "z_dim": z_dim, "ngf": ngf}
        self.to_image = nn.Sequential(nn.ConvTranspose2d(ngf, 3, 4, 2, 1), nn.Tanh())  # 32 -> 64
        self.apply(init_weights)

    def forward(self, encoding: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """encoding [N, 128], z [N, Z] -> images [N, 3, 64, 64]."""
        return self.to_image(self.square_map(encoding, z))


class S2IDiscriminator(nn.Module):
    """D_{S->I}(image, phi(A)): the logit of (image [N, 3, 64, 64], sound encoding [N, 128]) being a true pair."""

    def __init__(self, encoding_dim: int = ENCODING_DIM, condition_dim: int = 64, ndf: int = 64) -> None:
        super().__init__()
        self.kwargs = {"encoding_dim": encoding_dim, "condition_dim": condition_dim, "ndf": ndf}
        self.features = nn.Sequential(
            *_down(3, ndf, norm=False),   # 64 -> 32
            *_down(ndf, ndf * 2),         # 32 -> 16
            *_down(ndf * 2, ndf * 4),     # 16 -> 8
            *_down(ndf * 4, ndf * 8),     # 8 -> 4
        )
        self.head = _JoinedScore(ndf * 8, encoding_dim, condition_dim)
        self.apply(init_weights)

    def forward(self, image: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
        """Logits [N]; the score S of Eq. 4 is sigmoid(logit)."""
        return self.head(self.features(image), encoding)


# ------------------------------------------------------------------ I2S
class I2SGenerator(_Generator):
    """G_{I->S}(z, varphi(I)): an LMS [N, 1, 128, 34] in [-1, 1] from an image encoding and noise.

    After the 32x32 x ngf map (the paper's 32x32x128 with ngf = 128), ``extra_layers`` 3x3
    layers (the paper adds two) and two deconvolutions with kernel 4x4, stride 2x1, padding 1:
    32x32 -> 64x33 -> 128x34. The buffers ``lms_low``/``lms_high`` hold the LMS range that
    [-1, 1] stands for (set from the training data), so :meth:`to_lms` returns LMS units.
    """

    def __init__(self, encoding_dim: int = ENCODING_DIM, condition_dim: int = 64, z_dim: int = 100, ngf: int = 64,
                 extra_layers: int = 2, resize: str = "interpolate") -> None:
        super().__init__(encoding_dim, condition_dim, z_dim, ngf)
        if resize not in RESIZE_MODES:
            raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize!r}")
        self.kwargs = {"encoding_dim": encoding_dim, "condition_dim": condition_dim, "z_dim": z_dim, "ngf": ngf,
                       "extra_layers": extra_layers, "resize": resize}
        self.resize = resize
        self.extra = nn.Sequential(*[m for _ in range(extra_layers) for m in _same(ngf, ngf, leaky=False)])
        half = max(ngf // 2, 1)
        self.to_lms_map = nn.Sequential(
            *_up(ngf, half, 4, (2, 1), 1),                        # 32x32 -> 64x33
            nn.ConvTranspose2d(half, 1, 4, (2, 1), 1), nn.Tanh(),  # 64x33 -> 128x34
        )
        self.register_buffer("lms_low", torch.tensor(-1.0))
        self.register_buffer("lms_high", torch.tensor(1.0))
        self.apply(init_weights)

    def forward(self, encoding: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """encoding [N, 128], z [N, Z] -> spectrograms [N, 1, 128, 34] in [-1, 1]."""
        return self.to_lms_map(self.extra(self.square_map(encoding, z)))

    def set_lms_range(self, low: float, high: float) -> None:
        if not high > low:
            raise ValueError(f"LMS range must have high > low, got [{low}, {high}]")
        self.lms_low.fill_(float(low))
        self.lms_high.fill_(float(high))

    def to_lms(self, output: torch.Tensor, frames: int = LMS_SHAPE[1]) -> torch.Tensor:
        """Generator output [N, 1, 128, 34] -> LMS [N, 128, frames] in the training data's units (Sec. 3.1, evaluation)."""
        lms = denormalize_lms(output[:, 0].float(), self.lms_low, self.lms_high)
        return resize_lms(lms, frames, self.resize)


class I2SDiscriminator(nn.Module):
    """D_{I->S}(LMS, varphi(I)): the logit of (spectrogram [N, 1, 128, 34], image encoding [N, 128]).

    Two convolutions with kernel 4x4, stride 2x1, padding 1 (128x34 -> 64x33 -> 32x32), then the
    square part: ``extra_layers`` 3x3 layers at 32x32 (the paper adds 12) and the stride-2
    layers 32 -> 16 -> 8 -> 4 of the S2I discriminator, then the joined head.
    """

    def __init__(self, encoding_dim: int = ENCODING_DIM, condition_dim: int = 64, ndf: int = 64, extra_layers: int = 12) -> None:
        super().__init__()
        self.kwargs = {"encoding_dim": encoding_dim, "condition_dim": condition_dim, "ndf": ndf, "extra_layers": extra_layers}
        half = max(ndf // 2, 1)
        self.to_square = nn.Sequential(
            *_down(1, half, 4, (2, 1), 1, norm=False),  # 128x34 -> 64x33
            *_down(half, ndf, 4, (2, 1), 1),            # 64x33 -> 32x32
        )
        self.square = nn.Sequential(
            *[m for _ in range(extra_layers) for m in _same(ndf, ndf, leaky=True)],
            *_down(ndf, ndf * 2),      # 32 -> 16
            *_down(ndf * 2, ndf * 4),  # 16 -> 8
            *_down(ndf * 4, ndf * 8),  # 8 -> 4
        )
        self.head = _JoinedScore(ndf * 8, encoding_dim, condition_dim)
        self.apply(init_weights)

    def forward(self, lms: torch.Tensor, encoding: torch.Tensor) -> torch.Tensor:
        """Logits [N]; the score S of Eq. 4 is sigmoid(logit)."""
        return self.head(self.square(self.to_square(lms)), encoding)


# ------------------------------------------------------------------ LMS sizes and range
def resize_lms(lms: np.ndarray | torch.Tensor, frames: int, mode: str = "interpolate") -> np.ndarray | torch.Tensor:
    """Spectrograms [N, F, T] -> [N, F, frames] (128x44 <-> 128x34, Sec. 3.1).

    ``"interpolate"`` (the default) resamples each mel bin's row linearly in time, so every row
    stays the same frequency. ``"numpy"`` is what the paper used, ``np.resize`` on each item:
    it reads the item flattened (row-major) and cuts it into rows of the new width, repeating
    from the start when more values are needed. Shrinking 128x44 -> 128x34 keeps the first
    128*34 values, so each new row straddles two mel bins and the top ~29 bins are dropped;
    growing back restores those first values in place and fills the top with a copy of the
    lowest bins. It is offered to reproduce the paper, not for its sense.
    """
    if mode not in RESIZE_MODES:
        raise ValueError(f"resize mode must be one of {RESIZE_MODES}, got {mode!r}")
    n, n_bins, n_frames = lms.shape
    if n_frames == frames:
        return lms
    if mode == "numpy":
        flat = lms.reshape(n, n_bins * n_frames)
        take = np.arange(n_bins * frames) % (n_bins * n_frames)
        if isinstance(lms, torch.Tensor):
            take = torch.from_numpy(take).to(lms.device)
        return flat[:, take].reshape(n, n_bins, frames)
    tensor = torch.as_tensor(lms)
    out = F.interpolate(tensor[:, None].float(), size=(n_bins, frames), mode="bilinear", align_corners=False)[:, 0]
    return out if isinstance(lms, torch.Tensor) else out.numpy().astype(lms.dtype, copy=False)


def normalize_lms(lms: np.ndarray | torch.Tensor, low: float, high: float):
    """LMS values in [low, high] -> [-1, 1], the range of the generator's tanh."""
    return (lms - low) * (2.0 / (high - low)) - 1.0


def denormalize_lms(x: np.ndarray | torch.Tensor, low, high):
    """The inverse of :func:`normalize_lms`."""
    return (x + 1.0) * ((high - low) / 2.0) + low


# ------------------------------------------------------------------ building by kind
GAN_KINDS = ("s2i", "i2s")
#: The name a train-gan file gives the moving average of G's weights (``gan.ema_decay`` > 0);
#: load_gan returns it as the generator.
AVERAGE_GENERATOR = "generator_ema"


def build_gan(kind: str, generator_kwargs: dict[str, Any], discriminator_kwargs: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """(generator, discriminator) of ``kind`` ('s2i' or 'i2s') with the given sizes.

    Both hold their conv weights channels-last (NHWC): oneDNN's convolutions run faster on
    them, and the real images already arrive NHWC (images_to_tensor), so D no longer mixes
    layouts. On one CPU thread a demo I2S step takes 0.8x the NCHW time, S2I 0.8-1.0x
    (benchmarks/channels_last.py, README). The arithmetic is the same up to the order of float
    sums.
    """
    if kind == "s2i":
        networks = S2IGenerator(**generator_kwargs), S2IDiscriminator(**discriminator_kwargs)
    elif kind == "i2s":
        networks = I2SGenerator(**generator_kwargs), I2SDiscriminator(**discriminator_kwargs)
    else:
        raise ValueError(f"GAN kind must be one of {GAN_KINDS}, got {kind!r}")
    return tuple(network.to(memory_format=torch.channels_last) for network in networks)


def load_gan(path: str | os.PathLike, weights: str | os.PathLike | None = None,
             device: torch.device | str = "cpu") -> tuple[nn.Module, nn.Module, dict[str, Any]]:
    """(generator, discriminator, extra) from a train-gan model file, in eval mode.

    ``weights``: optionally a kept checkpoint (``checkpoints/epoch_XXXX.pt``) whose weights
    replace the final ones (Fig. 9 evaluates every kept epoch); the sizes come from ``path``.
    A model trained with a moving average of G's weights (``ema_decay`` > 0) returns that
    average as the generator: it is what the GAN's samples and every evaluation show.
    """
    from crossmodal.training import CheckpointError, load_models

    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:
        raise CheckpointError(f"{path}: cannot read GAN model file: {err}") from err
    extra = payload.get("extra", {})
    if "kind" not in extra or "kwargs" not in extra:
        raise CheckpointError(f"{path}: is not a train-gan model file (no kind/kwargs in 'extra')")
    generator, discriminator = build_gan(extra["kind"], extra["kwargs"]["generator"], extra["kwargs"]["discriminator"])
    averaged = bool(extra.get("settings", {}).get("ema_decay"))
    load_models(weights or path, {AVERAGE_GENERATOR if averaged else "generator": generator, "discriminator": discriminator})
    return generator.to(device).eval(), discriminator.to(device).eval(), extra
