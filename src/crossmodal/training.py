"""The training toolkit every model of the project uses: device, seeding, batches, AMP, resume.

Every training step of the workflow (audio classifiers, sound autoencoder, image classifier,
GANs) is a Snakemake job that may be killed (a SLURM time limit, a laptop closed). Each one
therefore runs through :class:`TrainingRun`, which checkpoints models, optimizers, gradient
scalers and every random-number state at the end of an epoch, and resumes from that checkpoint
when the job is run again. Batches depend only on ``(seed, epoch)``, so a resumed run sees the
same batches, the same dropout masks and the same noise as an uninterrupted one, and on CPU
ends with bit-identical weights (``tests/test_training.py``).

The loop itself stays in the caller (as in pytorch/examples' dcgan): ::

    run = TrainingRun(out_dir, {"net": net}, {"net": opt}, total_epochs=10, seed=0, device=dev)
    for epoch in run.epochs():
        for idx in run.batches(len(x), 64, epoch):
            with run.autocast():
                loss = criterion(net(gather(x, idx, run.device)), gather(y, idx, run.device))
            run.step(loss, "net")
        run.end_epoch(epoch, {"loss": float(loss)})
    run.save_final(out_path)

Whether a job resumes is decided by ONE run fingerprint (:func:`run_fingerprint`: the settings
the weights depend on, the seed, and size + mtime stamps of the input files), kept in
``run.json`` beside the checkpoint: a checkpoint is resumed only when it was written under the
same fingerprint; otherwise the run starts afresh and the log says which keys changed. This is
what makes "change one setting, rerun what it touches" retrain instead of reusing old weights.

Epoch numbers yielded by :meth:`TrainingRun.epochs` count from 0 (like ``range``); files and
the metrics table count *completed* epochs, so ``checkpoints/epoch_0005.pt`` and the metrics
row ``epoch == 5`` both hold the state after five epochs (after ``end_epoch(4, ...)``).
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import json
import logging
import os
import random
import shutil
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from crossmodal.store import atomic_output, write_text

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "checkpoint.pt"
METRICS_NAME = "metrics.csv"
RUN_FILE = "run.json"
#: What a run folder holds besides the final model: all of it belongs to one fingerprint.
RUN_STATE = (CHECKPOINT_NAME, METRICS_NAME, "checkpoints", "samples")


class CheckpointError(ValueError):
    """A checkpoint cannot be resumed from (wrong models, corrupt file); names the file."""


def pick_device(prefer: str = "auto") -> torch.device:
    """The device to train on.

    ``prefer``: ``"auto"`` (CUDA when available, else CPU), ``"cpu"``, ``"cuda"`` or
    ``"cuda:N"``. On CUDA without an explicit index, ``crossmodal.gpus.claim_gpu()`` names the
    GPU this job may use (several jobs may share a node); it is imported only when CUDA is used.
    """
    prefer = prefer.strip().lower()
    if prefer == "cpu":
        return torch.device("cpu")
    if prefer not in {"auto", "cuda"} and not prefer.startswith("cuda:"):
        raise ValueError(f"device {prefer!r} is not one of auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        if prefer == "auto":
            return torch.device("cpu")
        raise ValueError(f"device {prefer!r} was asked for but CUDA is not available here")
    if prefer.startswith("cuda:"):
        return torch.device(prefer)
    try:
        from crossmodal.gpus import claim_gpu
    except ImportError:  # the cluster helper is absent: a single-GPU machine
        log.warning("crossmodal.gpus is not available; using cuda:0")
        return torch.device("cuda", 0)
    return torch.device("cuda", int(claim_gpu()))


def seed_everything(seed: int) -> None:
    """Seeds Python's, NumPy's and torch's global generators (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def set_threads(threads: int) -> None:
    """Uses ``threads`` CPU threads for torch (the Snakemake rule's ``threads``)."""
    torch.set_num_threads(max(1, int(threads)))


#: Adam's step function without its wrappers (torch's grad-mode and compiler wrapper; the
#: optimizer hooks' wrapper is added again to EagerAdam.step by torch at construction).
_ADAM_UPDATE = inspect.unwrap(torch.optim.Adam.step)


class EagerAdam(torch.optim.Adam):
    """torch's Adam, stepping without torch's compiler hooks (see :func:`adam`).

    ``torch.optim.Adam.step`` runs its update inside a wrapper that imports torch._dynamo and
    marks graph breaks for a compiler; this class calls the same update function under the same
    grad mode, without the wrapper. State dicts are Adam's (checkpoints load either way).
    """

    def step(self, closure=None):
        with torch.set_grad_enabled(self.defaults["differentiable"]):
            return _ADAM_UPDATE(self, closure)


def adam(params: Iterable[Any], **settings: Any) -> torch.optim.Adam:
    """``torch.optim.Adam(params, **settings)``, built and stepped without importing
    ``torch._dynamo`` (:func:`skip_dynamo_import`, :class:`EagerAdam`): the optimizer every
    training of the project uses. Same arithmetic, bit for bit (tests/test_training.py)."""
    skip_dynamo_import()
    return EagerAdam(params, **settings)


def _closure_functions(fn: Any) -> list[Any]:
    """The functions ``fn`` closes over (empty cells and non-functions left out)."""
    found = []
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if callable(value):
            found.append(value)
    return found


def _dynamo_disable_wrappers() -> Iterator[Any]:
    """The functions of torch.optim that torch wraps in ``torch._disable_dynamo``, found by the
    wrapper's code object (directly, or one closure down, as torch.optim's foreach fallbacks)."""
    inner = torch._disable_dynamo(lambda: None).__code__
    seen: set[int] = set()
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "torch.optim" or name.startswith("torch.optim.")):
            continue
        for value in list(vars(module).values()):
            for member in vars(value).values() if isinstance(value, type) else (value,):
                for fn in (member, *_closure_functions(member)):
                    if getattr(fn, "__code__", None) is inner and id(fn) not in seen:
                        seen.add(id(fn))
                        yield fn


def skip_dynamo_import() -> int:
    """Lets torch.optim run without importing ``torch._dynamo``, which takes ~2.3 s of CPU at
    each training job's start on a 2-core CPU (benchmarks/optimizer_start.py; a third of a tiny job).

    torch 2.x wraps ``Optimizer.add_param_group``, ``zero_grad``, ``state_dict``,
    ``load_state_dict`` and each optimizer's step function in ``torch._disable_dynamo``, whose
    wrapper imports torch._dynamo on its first call only to tell the compiler not to trace the
    function, then caches the result on the function as ``__dynamo_disable``. This project never
    compiles, so each wrapped function is cached as its own 'disabled' form: the wrapper then
    calls it directly, with the same arithmetic (tests/test_training.py compares weights).
    Returns how many functions were marked; 0, changing nothing, once torch._dynamo is loaded
    (a caller that compiles keeps torch's behaviour) or where this torch's wrappers differ.
    """
    if "torch._dynamo" in sys.modules:
        return 0
    marked = 0
    for wrapper in _dynamo_disable_wrappers():
        fn = getattr(wrapper, "__wrapped__", None)
        if fn is not None and getattr(fn, "__dynamo_disable", None) is None:
            fn.__dynamo_disable = fn
            marked += 1
    return marked


def device_from(args: Any) -> torch.device:
    """The device of a step's --device and --threads flags (config.add_device_arguments): sets
    torch's CPU threads, then picks the device (claiming a GPU when on CUDA)."""
    set_threads(args.threads)
    return pick_device(args.device)


def gather(array: np.ndarray, idx: np.ndarray, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Rows ``idx`` of an in-memory or memory-mapped ``array`` as a tensor on ``device``.

    The rows are read in ascending order (fast on a memmap) and put back in ``idx``'s order.
    ``dtype`` defaults to float32 for floating arrays and int64 for integer labels.
    """
    idx = np.asarray(idx)
    order = np.argsort(idx, kind="stable")
    rows = np.empty((len(idx), *array.shape[1:]), dtype=array.dtype)
    rows[order] = array[idx[order]]
    tensor = torch.from_numpy(rows)
    if dtype is None:
        dtype = torch.float32 if tensor.is_floating_point() else torch.int64
    return tensor.to(device=device, dtype=dtype, non_blocking=True)


def _atomic_torch_save(obj: Any, path: Path) -> None:
    """torch.save through the atomic writer, into an open file: given a path, torch names the
    archive's records after the file, and the writer's temporary name is random, so the same
    weights would give different bytes in every run."""
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        torch.save(obj, handle)


def input_stamp(*paths: str | os.PathLike | None) -> dict[str, list[int]]:
    """{path: [size, mtime_ns]} of the input files: what changes when an upstream rule reruns."""
    stamp = {}
    for path in paths:
        if path is not None:
            st = Path(path).stat()
            stamp[str(path)] = [st.st_size, st.st_mtime_ns]
    return stamp


def run_fingerprint(settings: Mapping[str, Any], inputs: Iterable[str | os.PathLike | None] = (), **extra: Any) -> dict[str, Any]:
    """The fingerprint of a training run: its settings, extra values, and stamps of its input files.

    The epoch count stays out (``settings["epochs"]`` is dropped), so a killed run resumes and a
    finished one can be extended by raising it; a caller whose schedule depends on the epoch
    count passes it again under another name.
    """
    return {
        "settings": {k: v for k, v in settings.items() if k != "epochs"},
        "inputs": input_stamp(*inputs),
        **extra,
    }


def _json_types(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def _changed_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two fingerprints (for the log)."""
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(set(old) | set(new))
        return [k for key in keys for k in _changed_keys(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [prefix.rstrip(".") or "<all>"]


def _rng_states() -> dict[str, Any]:
    """Every global RNG state, as plain types and tensors (loadable with weights_only=True)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    states = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: Mapping[str, Any]) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def load_models(path: str | os.PathLike, models: Mapping[str, nn.Module], map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Loads a :meth:`TrainingRun.save_final` file into ``models``; returns its ``extra`` dict."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, RuntimeError, EOFError) as err:
        raise CheckpointError(f"{path}: cannot read model file: {err}") from err
    states = payload.get("models", {})
    missing = sorted(set(models) - set(states))
    if missing:
        raise CheckpointError(f"{path}: holds no weights for model(s) {missing} (has {sorted(states)})")
    for name, model in models.items():
        try:
            model.load_state_dict(states[name])
        except RuntimeError as err:
            raise CheckpointError(f"{path}: weights of {name!r} do not fit the model: {err}") from err
    return payload.get("extra", {})


class TrainingRun:
    """One resumable training job writing into ``out_dir``.

    ``out_dir`` receives ``checkpoint.pt`` (everything needed to resume, rewritten atomically
    every ``checkpoint_every`` epochs and after the last), ``metrics.csv`` (one row per
    completed epoch: ``epoch`` = epochs completed, the caller's metrics, ``seconds``) and, when
    ``keep_every`` is set, ``checkpoints/epoch_XXXX.pt`` (models only, after XXXX epochs; the
    same format as :meth:`save_final`, readable with :func:`load_models`).

    ``fingerprint`` (see :func:`run_fingerprint`; the seed is added to it) names what the
    weights depend on. It is kept in ``run.json``; when the folder's state (checkpoint,
    metrics, kept checkpoints, samples) was written under another fingerprint, that state is
    removed and the run starts afresh, with a log line naming the changed keys.

    ``state`` is a dict of the caller's own picklable values (plain types and tensors) saved
    and restored with the checkpoint, e.g. the stage of a greedy layer-wise training.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        models: dict[str, nn.Module],
        optimizers: dict[str, torch.optim.Optimizer],
        total_epochs: int,
        seed: int,
        device: torch.device,
        amp: bool = True,
        checkpoint_every: int = 1,
        keep_every: int | None = None,
        fingerprint: Mapping[str, Any] | None = None,
    ) -> None:
        if total_epochs < 0:
            raise ValueError(f"total_epochs must be >= 0, got {total_epochs}")
        if checkpoint_every < 1 or (keep_every is not None and keep_every < 1):
            raise ValueError("checkpoint_every and keep_every must be >= 1")
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.models = models
        self.optimizers = optimizers
        self.total_epochs = int(total_epochs)
        self.seed = int(seed)
        self.device = torch.device(device)
        self.checkpoint_every = int(checkpoint_every)
        self.keep_every = keep_every
        self.fingerprint = _json_types({"seed": self.seed, **dict(fingerprint or {})})
        self.state: dict[str, Any] = {}
        self.metrics: list[dict[str, float]] = []
        cuda = self.device.type == "cuda"
        self.amp = bool(amp) and cuda
        # bf16 needs no loss scaling; fp16 (older GPUs) gets one GradScaler per optimizer.
        self.amp_dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
        use_scaler = self.amp and self.amp_dtype == torch.float16
        self.scalers = {name: torch.amp.GradScaler("cuda", enabled=use_scaler) for name in optimizers}
        for model in models.values():
            model.to(self.device)
        seed_everything(self.seed)
        self.start_epoch = 0
        self._epoch_started = time.perf_counter()
        # One line per training job says where it ran (benchmarks/gpu_check.sh reads it).
        log.info("training %s on %s (mixed precision: %s)", self.out_dir, self.device,
                 str(self.amp_dtype).removeprefix("torch.") if self.amp else "off")
        self._start_afresh_if_changed()
        if self.checkpoint_path.exists():
            self._resume()

    @property
    def checkpoint_path(self) -> Path:
        return self.out_dir / CHECKPOINT_NAME

    @property
    def metrics_path(self) -> Path:
        return self.out_dir / METRICS_NAME

    # ---------------------------------------------------------------- resume
    def _start_afresh_if_changed(self) -> None:
        """Removes the folder's run state unless it was written under this run's fingerprint."""
        run_file = self.out_dir / RUN_FILE
        try:
            previous = json.loads(run_file.read_text())
        except FileNotFoundError:
            previous = None
        except (OSError, ValueError):
            previous = {"<unreadable run.json>": True}
        if previous == self.fingerprint:
            return
        stale = [self.out_dir / name for name in RUN_STATE if (self.out_dir / name).exists()]
        if stale:
            why = "no run.json" if previous is None else "changed: " + ", ".join(_changed_keys(previous, self.fingerprint))
            log.warning("%s: its checkpoint was written under other settings or inputs (%s); starting afresh",
                        self.out_dir, why)
        for path in stale:
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        write_text(run_file, json.dumps(self.fingerprint, indent=1, sort_keys=True) + "\n")

    def _resume(self) -> None:
        path = self.checkpoint_path
        try:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
        except (OSError, RuntimeError, EOFError, ValueError) as err:
            raise CheckpointError(f"{path}: cannot resume from this checkpoint ({err}); delete it to start over") from err
        if set(ckpt["models"]) != set(self.models) or set(ckpt["optimizers"]) != set(self.optimizers):
            raise CheckpointError(
                f"{path}: holds models {sorted(ckpt['models'])} and optimizers {sorted(ckpt['optimizers'])}, "
                f"this run has {sorted(self.models)} and {sorted(self.optimizers)}; delete it to start over"
            )
        try:
            for name, model in self.models.items():
                model.load_state_dict(ckpt["models"][name])
            for name, opt in self.optimizers.items():
                opt.load_state_dict(ckpt["optimizers"][name])
                self.scalers[name].load_state_dict(ckpt["scalers"][name])
        except (RuntimeError, ValueError, KeyError) as err:
            raise CheckpointError(f"{path}: does not fit this run's models ({err}); delete it to start over") from err
        self.start_epoch = int(ckpt["epochs_done"])
        self.metrics = list(ckpt["metrics"])
        self.state = dict(ckpt["state"])
        _set_rng_states(ckpt["rng"])
        # metrics.csv may hold rows of epochs after the checkpoint (checkpoint_every > 1).
        self._write_metrics()
        log.info("resuming %s after epoch %d of %d", self.out_dir, self.start_epoch, self.total_epochs)

    # ---------------------------------------------------------------- loop helpers
    def epochs(self) -> Iterator[int]:
        """The epochs still to run (0-based), with a progress bar on stderr."""
        bar = tqdm(
            range(self.start_epoch, self.total_epochs),
            initial=self.start_epoch,
            total=self.total_epochs,
            desc=self.out_dir.name,
            unit="epoch",
            mininterval=2.0,
        )
        for epoch in bar:
            self._epoch_started = time.perf_counter()
            yield epoch
            if self.metrics:
                bar.set_postfix({k: f"{v:.4g}" for k, v in self.metrics[-1].items() if k not in {"epoch", "seconds"}})

    def batches(self, n_items: int, batch_size: int, epoch: int, shuffle: bool = True, drop_last: bool = False) -> Iterator[np.ndarray]:
        """Index arrays (int64) of the batches of one epoch; the order depends on (seed, epoch) only."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        order = np.random.default_rng([self.seed, epoch]).permutation(n_items) if shuffle else np.arange(n_items)
        stop = n_items - n_items % batch_size if drop_last else n_items
        for start in range(0, stop, batch_size):
            yield order[start : start + batch_size]

    def autocast(self) -> contextlib.AbstractContextManager:
        """Mixed precision (bf16, or fp16 where bf16 is missing) on CUDA when amp; a no-op on CPU."""
        if not self.amp:
            return contextlib.nullcontext()
        return torch.autocast(device_type="cuda", dtype=self.amp_dtype)

    def step(self, loss: torch.Tensor, optimizer_name: str, retain_graph: bool = False) -> None:
        """Backward of ``loss`` and one step of that optimizer.

        That optimizer's gradients are zeroed before the backward (so gradients another loss
        leaked into its parameters, e.g. D's loss into G through an undetached fake, are
        dropped) and after the step.
        """
        opt = self.optimizers[optimizer_name]
        scaler = self.scalers[optimizer_name]
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward(retain_graph=retain_graph)
        scaler.step(opt)
        scaler.update()
        opt.zero_grad(set_to_none=True)

    # ---------------------------------------------------------------- saving
    def end_epoch(self, epoch: int, metrics: Mapping[str, float]) -> None:
        """Records ``metrics`` of 0-based ``epoch``; checkpoints and keeps copies when due."""
        done = epoch + 1
        row = {"epoch": done, **{k: float(v) for k, v in metrics.items()}, "seconds": time.perf_counter() - self._epoch_started}
        self.metrics.append(row)
        self._write_metrics()
        if done % self.checkpoint_every == 0 or done == self.total_epochs:
            self._save_checkpoint(done)
        if self.keep_every and done % self.keep_every == 0:
            self.save_final(self.out_dir / "checkpoints" / f"epoch_{done:04d}.pt")

    def _write_metrics(self) -> None:
        columns: list[str] = []
        for row in self.metrics:
            columns += [k for k in row if k not in columns]
        lines = [",".join(columns)]
        for row in self.metrics:
            lines.append(",".join("" if k not in row else repr(row[k]) if isinstance(row[k], float) else str(row[k]) for k in columns))
        write_text(self.metrics_path, "\n".join(lines) + "\n")

    def _save_checkpoint(self, epochs_done: int) -> None:
        _atomic_torch_save(
            {
                "epochs_done": epochs_done,
                "seed": self.seed,
                "models": {n: m.state_dict() for n, m in self.models.items()},
                "optimizers": {n: o.state_dict() for n, o in self.optimizers.items()},
                "scalers": {n: s.state_dict() for n, s in self.scalers.items()},
                "metrics": self.metrics,
                "state": self.state,
                "rng": _rng_states(),
            },
            self.checkpoint_path,
        )

    def save_final(self, path: str | os.PathLike, extra: Mapping[str, Any] | None = None) -> None:
        """Writes ``{"models": {name: state_dict}, "extra": extra}`` atomically (the rule's output).

        ``extra`` holds what a later step needs besides weights (input statistics, sizes), as
        plain types and tensors; read it back with :func:`load_models`.
        """
        _atomic_torch_save(
            {"models": {n: m.state_dict() for n, m in self.models.items()}, "extra": dict(extra or {})},
            Path(path),
        )


def read_metrics(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a ``metrics.csv`` (strings; convert as needed)."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))
