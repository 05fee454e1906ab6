"""The GAN-CLS objective of Sec. 3.2: the losses (Eq. 3, 4) and the wrong-pair samplers (Eq. 5-7).

Scores are Sr (a true pair from the training set), Sf (generated data with its condition) and
Sw (a wrong pair: other data with the true condition). The generator maximises log Sf (Eq. 3);
the discriminator maximises log Sr + (log(1 - Sw) + log(1 - Sf)) / 2 (Eq. 4), or
log Sr + log(1 - Sf) when a model has no wrong pairs (S2I-N). The kind of wrong pair decides
the task (Eq. 5-7): another instrument's data (instrument-oriented S2I, I2S) or another item of
the same instrument (pose-oriented S2I).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

#: How wrong pairs are drawn: Eq. 5 and 7 (another instrument), Eq. 6 (same instrument, another
#: item), or none (S2I-N).
WRONG_PAIRS = ("other_instrument", "same_instrument", "none")


# ------------------------------------------------------------------ losses (Eq. 3, 4)
def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 3 as a loss to minimise: -mean log Sf, with Sf = sigmoid(logit)."""
    return F.softplus(-fake_logits.float()).mean()  # -log sigmoid(x) = softplus(-x)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                       wrong_logits: torch.Tensor | None = None) -> torch.Tensor:
    """Eq. 4 as a loss: -mean [log Sr + (log(1 - Sw) + log(1 - Sf)) / 2].

    Without ``wrong_logits`` (S2I-N): -mean [log Sr + log(1 - Sf)].
    """
    real = F.softplus(-real_logits.float()).mean()   # -log Sr
    fake = F.softplus(fake_logits.float()).mean()    # -log(1 - Sf) = softplus(x)
    if wrong_logits is None:
        return real + fake
    wrong = F.softplus(wrong_logits.float()).mean()  # -log(1 - Sw)
    return real + (wrong + fake) / 2


# ------------------------------------------------------------------ wrong pairs (Eq. 5, 6, 7)
class WrongPairSampler:
    """omega(.): draws, uniformly, the index of a wrong partner for each item of a batch.

    ``labels``: int [N], the instrument of each training item. ``mode``:
    ``"other_instrument"`` draws from every item of another instrument (I_{-i} in Eq. 5, A_{-i}
    in Eq. 7); ``"same_instrument"`` from the other items of the same instrument (I_{-j,i},
    Eq. 6). Items are grouped by label once; each draw is O(1).
    """

    def __init__(self, labels: np.ndarray, mode: str) -> None:
        if mode not in WRONG_PAIRS or mode == "none":
            raise ValueError(f"wrong-pair mode must be other_instrument or same_instrument, got {mode!r}")
        labels = np.asarray(labels)
        self.mode = mode
        self.order = np.argsort(labels, kind="stable")       # items grouped by label
        self.rank = np.empty(len(labels), dtype=np.int64)    # position of item in ``order``
        self.rank[self.order] = np.arange(len(labels))
        classes, starts, counts = np.unique(labels[self.order], return_index=True, return_counts=True)
        self.start = np.zeros(len(labels), dtype=np.int64)   # per item: where its label's group starts
        self.count = np.zeros(len(labels), dtype=np.int64)   # per item: the group's size
        for c, s, n in zip(classes, starts, counts):
            self.start[labels == c] = s
            self.count[labels == c] = n
        if mode == "other_instrument" and len(classes) < 2:
            raise ValueError("wrong pairs of another instrument need at least two instruments in the training set")
        if mode == "same_instrument" and (counts < 2).any():
            lonely = classes[counts < 2].tolist()
            raise ValueError(f"wrong pairs of the same instrument need two items per instrument; labels {lonely} have one")
        self.n = len(labels)

    def __call__(self, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Wrong partners (int64 indices into the training set) for the items ``idx``."""
        idx = np.asarray(idx)
        start, count = self.start[idx], self.count[idx]
        if self.mode == "other_instrument":
            # Uniform over the N - n_c positions outside the item's group, skipping the group.
            r = (rng.random(len(idx)) * (self.n - count)).astype(np.int64)
            position = np.where(r < start, r, r + count)
        else:
            # Uniform over the n_c - 1 other members of the item's group, skipping the item.
            r = (rng.random(len(idx)) * (count - 1)).astype(np.int64)
            own = self.rank[idx] - start
            position = start + np.where(r < own, r, r + 1)
        return self.order[position]
