"""Sound encoders (Sec. 3.3 and 5.1): the audio classifier (Fig. 4) and the stacked autoencoder.

Both map a representation of one 0.5 s window, [F, T] (LMS: 128 x 44), to a 128-d encoding:
the classifier's is its 128-unit FC layer before the softmax (S2I-C), the autoencoder's the
output of its last stack's FC layer (S2I-A). Inputs are standardised inside the model with
statistics of the training split (buffers, saved with the weights), so an encoder is applied
to a stored representation as it is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from crossmodal.models import ENCODING_DIM
from crossmodal.urmp import INSTRUMENT_NAMES


def dropout_rates(values: Sequence[float], meaning: str) -> tuple[float, ...]:
    """The paper's dropout numbers as PyTorch drop probabilities.

    ``meaning`` ``"keep_probability"``: TensorFlow's ``keep_prob`` (the paper's 0.7 and 0.8
    read so drop 30% and 20%); ``"drop_rate"``: the numbers are already drop probabilities.
    """
    if meaning == "keep_probability":
        rates = tuple(1.0 - float(v) for v in values)
    elif meaning == "drop_rate":
        rates = tuple(float(v) for v in values)
    else:
        raise ValueError(f"dropout meaning {meaning!r} is not keep_probability or drop_rate")
    if any(not 0.0 <= r < 1.0 for r in rates):
        raise ValueError(f"dropout {list(values)} read as {meaning} gives drop rates {rates} outside [0, 1)")
    return rates


class Standardise(nn.Module):
    """(x - mean) / std per frequency row, x [N, F, T]; mean and std [F] are training statistics."""

    def __init__(self, n_rows: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_rows))
        self.register_buffer("std", torch.ones(n_rows))

    def fit(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32).expand_as(self.mean))
        self.std.copy_(torch.clamp(torch.as_tensor(std, dtype=torch.float32), min=1e-8).expand_as(self.std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean[:, None]) / self.std[:, None]


def freq_pool_factor(n_rows: int, max_rows: int | None) -> int:
    """Average-pooling factor along frequency that brings n_rows to about max_rows (1 = none).

    The STFT's 1025 bins pooled by 8 give 128 (the top bin dropped), the size of an LMS, so a
    CPU can train the Table 1 classifier on it; ``max_rows`` None keeps every bin.
    """
    if max_rows is None or n_rows <= max_rows:
        return 1
    return max(1, round(n_rows / max_rows))


class AudioClassifier(nn.Module):
    """The paper's audio classifier: ``conv_layers`` conv blocks + 3 FC layers (Fig. 4).

    Input [N, F, T] (a stored representation). Conv block: 3x3 conv (same padding), optional
    batch norm, ReLU, 2x2 max pool (ceil). FC: flatten -> ``fc_units`` -> ReLU -> dropout ->
    128 -> ReLU (= the encoding) -> dropout -> ``n_classes`` logits. The L2 penalty of the
    paper applies to the three FC weight matrices (:meth:`l2_penalty`).
    """

    def __init__(
        self,
        in_shape: tuple[int, int],
        n_classes: int,
        conv_layers: int = 4,
        channels: Sequence[int] = (8, 16, 32, 32),
        fc_units: int = 256,
        dropout: Sequence[float] = (0.3, 0.2),
        batch_norm: bool = True,
        max_freq_bins: int | None = 128,
    ) -> None:
        super().__init__()
        if conv_layers < 1 or len(channels) < conv_layers:
            raise ValueError(f"{conv_layers} conv layers need at least as many channel widths, got {list(channels)}")
        if len(dropout) != 2:
            raise ValueError(f"dropout needs two rates (the last two layers), got {list(dropout)}")
        n_rows, n_frames = in_shape
        self.in_shape = (int(n_rows), int(n_frames))
        self.standardise = Standardise(n_rows)
        self.freq_pool = freq_pool_factor(n_rows, max_freq_bins)
        blocks: list[nn.Module] = []
        c_in, h, w = 1, n_rows // self.freq_pool, n_frames
        for c_out in channels[:conv_layers]:
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)]
            if batch_norm:
                blocks += [nn.BatchNorm2d(c_out)]
            blocks += [nn.ReLU(inplace=True), nn.MaxPool2d(2, ceil_mode=True)]
            c_in, h, w = c_out, -(-h // 2), -(-w // 2)
        self.conv = nn.Sequential(*blocks)
        self.fc1 = nn.Linear(c_in * h * w, fc_units)
        self.drop1 = nn.Dropout(dropout[0])
        self.fc2 = nn.Linear(fc_units, ENCODING_DIM)
        self.drop2 = nn.Dropout(dropout[1])
        self.fc3 = nn.Linear(ENCODING_DIM, n_classes)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """[N, F, T] representation -> [N, 1, F / pool, T] network input (no parameters)."""
        h = self.standardise(x).unsqueeze(1)
        if self.freq_pool > 1:
            h = F.avg_pool2d(h, (self.freq_pool, 1))
        return h

    def embed(self, h: torch.Tensor) -> torch.Tensor:
        """Prepared input -> the 128-unit FC activation [N, 128] (the encoding, in eval mode)."""
        h = self.conv(h).flatten(1)
        h = self.drop1(F.relu(self.fc1(h)))
        return F.relu(self.fc2(h))

    def logits_prepared(self, h: torch.Tensor) -> torch.Tensor:
        return self.fc3(self.drop2(self.embed(h)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, F, T] -> class logits [N, n_classes]."""
        return self.logits_prepared(self.prepare(x))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[N, F, T] -> the 128-d sound encoding of S2I-C (call in eval mode)."""
        return self.embed(self.prepare(x))

    def l2_penalty(self) -> torch.Tensor:
        """sum ||W||^2 / 2 over the FC weight matrices (TensorFlow's l2_loss; times the l2 factor)."""
        return sum(layer.weight.square().sum() for layer in (self.fc1, self.fc2, self.fc3)) / 2


#: How LMS windows are brought to the last stack's input: valid convolutions (kernels 3, 3, 5
#: without padding take 128 x 44 to 120 x 36, as the paper's sizes suggest), or a centre crop /
#: bilinear resize to (F - 8) x (T - 8) followed by same-padded 3x3 convolutions.
AUTOENCODER_FITS = ("valid_convs", "crop", "resize")


#: Slope of the conv stacks' leaky ReLU: a plain ReLU can die on the one-channel 120 x 36 map
#: and leave stack 4 a constant input (seen on the demo data).
LEAKY_SLOPE = 0.2


class SoundAutoencoder(nn.Module):
    """Sec. 5.1's stacked convolution-deconvolution autoencoder (S2I-A's sound encoder).

    Four stacks trained in order on MSE (greedy layer-wise): stacks 1-3 are a conv (+ leaky ReLU)
    whose output feeds the next stack and a deconv that reconstructs the stack's input; stack 4
    flattens its input ((F - 8) x (T - 8): 120 x 36 for the LMS) to 128 through a fully
    connected layer and back. The encoding is the output of that FC layer (linear).
    """

    N_STACKS = 4

    def __init__(self, in_shape: tuple[int, int], channels: Sequence[int] = (8, 8, 1), fit: str = "valid_convs") -> None:
        super().__init__()
        if len(channels) != 3:
            raise ValueError(f"the three conv stacks need three channel widths, got {list(channels)}")
        if fit not in AUTOENCODER_FITS:
            raise ValueError(f"autoencoder fit {fit!r} is not one of {AUTOENCODER_FITS}")
        n_rows, n_frames = in_shape
        self.in_shape = (int(n_rows), int(n_frames))
        self.fit = fit
        self.inner_shape = (n_rows - 8, n_frames - 8)
        if min(self.inner_shape) < 1:
            raise ValueError(f"input {in_shape} is too small for the autoencoder (needs more than 8 x 8)")
        self.standardise = Standardise(n_rows)
        kernels, padding = ((3, 3, 5), 0) if fit == "valid_convs" else ((3, 3, 3), 1)
        widths = (1, *channels)
        self.encoders = nn.ModuleList(
            nn.Conv2d(widths[i], widths[i + 1], kernels[i], padding=padding) for i in range(3)
        )
        # A stride-1 deconvolution (transposed convolution) is a convolution padded by
        # kernel - 1 - padding with flipped weights; written so, it trains faster on CPU.
        self.decoders = nn.ModuleList(
            nn.Conv2d(widths[i + 1], widths[i], kernels[i], padding=kernels[i] - 1 - padding) for i in range(3)
        )
        flat = channels[-1] * self.inner_shape[0] * self.inner_shape[1]
        self.fc_encoder = nn.Linear(flat, ENCODING_DIM)
        self.fc_decoder = nn.Linear(ENCODING_DIM, flat)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """[N, F, T] -> standardised [N, 1, F', T'] input of stack 1 (cropped/resized if so fit)."""
        h = self.standardise(x).unsqueeze(1)
        if self.fit == "crop":
            top = (h.shape[-2] - self.inner_shape[0]) // 2
            left = (h.shape[-1] - self.inner_shape[1]) // 2
            h = h[..., top : top + self.inner_shape[0], left : left + self.inner_shape[1]]
        elif self.fit == "resize":
            h = F.interpolate(h, size=self.inner_shape, mode="bilinear", align_corners=False)
        return h

    def stack_parameters(self, stack: int) -> list[nn.Parameter]:
        """Parameters of stack 0..3 (what its optimizer updates)."""
        if stack < 3:
            return [*self.encoders[stack].parameters(), *self.decoders[stack].parameters()]
        return [*self.fc_encoder.parameters(), *self.fc_decoder.parameters()]

    def encode_stack(self, stack: int, h: torch.Tensor) -> torch.Tensor:
        if stack < 3:
            return F.leaky_relu(self.encoders[stack](h), LEAKY_SLOPE)
        return self.fc_encoder(h.flatten(1))

    def decode_stack(self, stack: int, z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if stack < 3:
            return self.decoders[stack](z)
        return self.fc_decoder(z).view_as(like)

    def stack_input(self, stack: int, x_prepared: torch.Tensor) -> torch.Tensor:
        """The input of ``stack``: the prepared input through the stacks before it."""
        h = x_prepared
        for k in range(stack):
            h = self.encode_stack(k, h)
        return h

    def stack_loss(self, stack: int, h: torch.Tensor) -> torch.Tensor:
        """MSE of ``stack`` reconstructing its input ``h``."""
        return F.mse_loss(self.decode_stack(stack, self.encode_stack(stack, h), h), h)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """[N, F, T] -> the 128-d sound encoding of S2I-A."""
        h = self.stack_input(3, self.prepare(x))
        return self.encode_stack(3, h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Full reconstruction of the prepared input (every stack encoded, then decoded)."""
        hs = [self.prepare(x)]
        for k in range(3):
            hs.append(self.encode_stack(k, hs[-1]))
        z = self.encode_stack(3, hs[-1])
        h = self.decode_stack(3, z, hs[-1])
        for k in reversed(range(3)):
            h = self.decode_stack(k, h, hs[k])
        return h


# ------------------------------------------------------------------ building and loading
def build_audio_classifier(in_shape: tuple[int, int], conv_layers: int, settings: Mapping[str, Any],
                           n_classes: int = len(INSTRUMENT_NAMES)) -> AudioClassifier:
    """The classifier of ``audio_classifier:`` settings (channels, fc_units, dropout,
    dropout_is, batch_norm, max_freq_bins); the same call trains and loads it."""
    return AudioClassifier(
        in_shape,
        n_classes=n_classes,
        conv_layers=conv_layers,
        channels=tuple(settings["channels"]),
        fc_units=settings["fc_units"],
        dropout=dropout_rates(settings["dropout"], settings["dropout_is"]),
        batch_norm=settings["batch_norm"],
        max_freq_bins=settings["max_freq_bins"],
    )


def _payload_extra(path: str | os.PathLike, kind: str, what: str) -> dict[str, Any]:
    from crossmodal.training import CheckpointError

    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:
        raise CheckpointError(f"{path}: cannot read model file: {err}") from err
    extra = payload.get("extra", {})
    if extra.get("kind") != kind:
        raise CheckpointError(f"{path}: is not {what}'s model.pt")
    return extra


def load_audio_classifier(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[AudioClassifier, dict[str, Any]]:
    """Rebuilds an audio classifier from its ``model.pt`` (eval mode); returns it and its saved extra."""
    from crossmodal.training import load_models

    extra = _payload_extra(path, "audio_classifier", "an audio classifier")
    n_classes = len(extra.get("class_names", INSTRUMENT_NAMES))  # models saved before class_names: 13
    model = build_audio_classifier(tuple(extra["in_shape"]), int(extra["conv_layers"]), json.loads(extra["settings"]),
                                   n_classes)
    load_models(path, {"classifier": model})
    return model.to(device).eval(), extra


def load_sound_autoencoder(path: str | os.PathLike, device: torch.device | str = "cpu") -> tuple[SoundAutoencoder, dict[str, Any]]:
    """Rebuilds the sound autoencoder from its ``model.pt`` (eval mode); returns it and its saved extra."""
    from crossmodal.training import load_models

    extra = _payload_extra(path, "sound_autoencoder", "a sound autoencoder")
    settings = json.loads(extra["settings"])
    model = SoundAutoencoder(tuple(extra["in_shape"]), channels=tuple(settings["channels"]), fit=settings["fit"])
    load_models(path, {"autoencoder": model})
    return model.to(device).eval(), extra
