"""The training toolkit: learning, deterministic batches, checkpoints and resume."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from crossmodal import training
from crossmodal.training import (
    CheckpointError,
    TrainingRun,
    gather,
    load_models,
    pick_device,
    read_metrics,
    run_fingerprint,
)


def _toy_data(n=256, seed=0):
    """Two Gaussian blobs in 8-d, 2 classes, linearly separable."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, 8)).astype(np.float32) + (2.0 * y[:, None] - 1.0) * 1.5
    return x.astype(np.float32), y.astype(np.int64)


def _build(seed=0):
    training.seed_everything(seed)
    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 2))
    opt = training.adam(net.parameters(), lr=1e-2)
    return net, opt


def _train(out_dir, epochs, stop_after=None, seed=0, **kwargs):
    """Trains the toy net; ``stop_after`` simulates a kill after that many epochs."""
    x, y = _toy_data()
    net, opt = _build(seed)
    run = TrainingRun(out_dir, {"net": net}, {"net": opt}, total_epochs=epochs, seed=seed,
                      device=torch.device("cpu"), **kwargs)
    for epoch in run.epochs():
        net.train()
        losses = []
        for idx in run.batches(len(x), 32, epoch):
            with run.autocast():
                loss = nn.functional.cross_entropy(net(gather(x, idx, run.device)), gather(y, idx, run.device))
            run.step(loss, "net")
            losses.append(loss.item())
        run.end_epoch(epoch, {"loss": float(np.mean(losses))})
        if stop_after is not None and epoch + 1 == stop_after:
            return net, run
    return net, run


def test_tiny_training_run_learns_separable_toy_set(tmp_path):
    net, _ = _train(tmp_path / "run", epochs=5)
    x, y = _toy_data(seed=1)
    net.eval()
    with torch.no_grad():
        accuracy = (net(torch.from_numpy(x)).argmax(1).numpy() == y).mean()
    assert accuracy > 0.9


def test_resume_after_interruption_gives_same_weights_as_uninterrupted_run(tmp_path):
    straight, _ = _train(tmp_path / "straight", epochs=6)
    _train(tmp_path / "killed", epochs=6, stop_after=2)
    resumed, run = _train(tmp_path / "killed", epochs=6)
    assert run.start_epoch == 2
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    rows = read_metrics(tmp_path / "killed" / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    straight_rows = read_metrics(tmp_path / "straight" / "metrics.csv")
    assert [r["loss"] for r in rows] == [r["loss"] for r in straight_rows]


def test_resume_with_sparse_checkpoints_drops_metrics_rows_after_the_checkpoint(tmp_path):
    _train(tmp_path / "run", epochs=6, stop_after=3, checkpoint_every=2)
    assert len(read_metrics(tmp_path / "run" / "metrics.csv")) == 3
    net, opt = _build()
    run = TrainingRun(tmp_path / "run", {"net": net}, {"net": opt}, 6, seed=0, device=torch.device("cpu"),
                      checkpoint_every=2)
    assert run.start_epoch == 2
    assert len(read_metrics(tmp_path / "run" / "metrics.csv")) == 2
    straight, _ = _train(tmp_path / "straight", epochs=6, checkpoint_every=2)
    resumed, _ = _train(tmp_path / "run", epochs=6, checkpoint_every=2)
    assert [int(r["epoch"]) for r in read_metrics(tmp_path / "run" / "metrics.csv")] == [1, 2, 3, 4, 5, 6]
    assert all(torch.equal(a, b) for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True))


def test_finished_run_resumes_with_no_epochs_left(tmp_path):
    _train(tmp_path / "run", epochs=2)
    _, run = _train(tmp_path / "run", epochs=2)
    assert run.start_epoch == 2
    assert list(run.epochs()) == []


def test_batches_depend_only_on_seed_and_epoch(tmp_path):
    net, opt = _build()
    run = TrainingRun(tmp_path / "a", {"net": net}, {"net": opt}, 3, seed=7, device=torch.device("cpu"))
    first = [b.tolist() for b in run.batches(10, 4, epoch=1)]
    again = [b.tolist() for b in run.batches(10, 4, epoch=1)]
    other = [b.tolist() for b in run.batches(10, 4, epoch=2)]
    assert first == again != other
    assert [len(b) for b in first] == [4, 4, 2]
    assert sorted(sum(first, [])) == list(range(10))
    assert [len(b) for b in run.batches(10, 4, epoch=1, drop_last=True)] == [4, 4]
    assert [b.tolist() for b in run.batches(5, 2, epoch=0, shuffle=False)] == [[0, 1], [2, 3], [4]]


def test_keep_every_writes_model_copies_loadable_with_load_models(tmp_path):
    net, _ = _train(tmp_path / "run", epochs=4, keep_every=2)
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert kept == ["epoch_0002.pt", "epoch_0004.pt"]
    copy, _ = _build(seed=3)
    load_models(tmp_path / "run" / "checkpoints" / "epoch_0004.pt", {"net": copy})
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), copy.state_dict().values(), strict=True))


def test_save_final_round_trips_models_and_extra(tmp_path):
    net, run = _train(tmp_path / "run", epochs=1)
    run.save_final(tmp_path / "final.pt", extra={"mean": torch.ones(3), "classes": 2})
    copy, _ = _build(seed=5)
    extra = load_models(tmp_path / "final.pt", {"net": copy})
    assert extra["classes"] == 2 and torch.equal(extra["mean"], torch.ones(3))
    assert torch.equal(copy[0].weight, net[0].weight)
    with pytest.raises(CheckpointError, match="other"):
        load_models(tmp_path / "final.pt", {"other": copy})


def test_the_same_weights_give_the_same_bytes_whatever_the_file_name(tmp_path):
    """Byte-identical results across runs: the archive must not carry the writer's temporary name."""
    _, run = _train(tmp_path / "run", epochs=1)
    run.save_final(tmp_path / "a" / "model.pt")
    run.save_final(tmp_path / "b" / "other_name.pt")
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "other_name.pt").read_bytes()


def test_checkpoint_of_other_models_is_refused_with_file_name(tmp_path):
    _train(tmp_path / "run", epochs=1)
    net = nn.Linear(3, 3)
    with pytest.raises(CheckpointError, match="checkpoint.pt"):
        TrainingRun(tmp_path / "run", {"other": net}, {"other": torch.optim.SGD(net.parameters(), lr=0.1)},
                    2, seed=0, device=torch.device("cpu"))


def test_pick_device_cpu_and_rejects_unknown_names():
    assert pick_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert pick_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA"):
            pick_device("cuda")
    with pytest.raises(ValueError, match="tpu"):
        pick_device("tpu")


def test_gather_keeps_index_order_from_memmap(tmp_path):
    data = np.arange(20, dtype=np.float32).reshape(10, 2)
    np.save(tmp_path / "a.npy", data)
    mm = np.load(tmp_path / "a.npy", mmap_mode="r")
    rows = gather(mm, np.array([7, 2, 9]), torch.device("cpu"))
    assert rows.dtype == torch.float32
    assert rows[:, 0].tolist() == [14.0, 4.0, 18.0]
    assert gather(np.arange(5), np.array([3, 1]), torch.device("cpu")).dtype == torch.int64


def test_checkpoint_under_another_fingerprint_is_not_resumed_and_the_log_says_why(tmp_path, caplog):
    _train(tmp_path / "run", epochs=3, fingerprint={"settings": {"lr": 0.01}})
    assert (tmp_path / "run" / "checkpoint.pt").exists()
    net, opt = _build()
    with caplog.at_level("WARNING"):
        run = TrainingRun(tmp_path / "run", {"net": net}, {"net": opt}, 3, seed=0, device=torch.device("cpu"),
                          fingerprint={"settings": {"lr": 0.1}})
    assert run.start_epoch == 0
    assert not (tmp_path / "run" / "checkpoint.pt").exists()
    assert not (tmp_path / "run" / "metrics.csv").exists()
    assert "changed: settings.lr" in caplog.text
    assert json.loads((tmp_path / "run" / "run.json").read_text())["settings"] == {"lr": 0.1}


def test_unchanged_fingerprint_resumes_and_a_changed_seed_starts_afresh_without_error(tmp_path):
    _train(tmp_path / "run", epochs=2, fingerprint={"settings": {"lr": 0.01}})
    net, opt = _build()
    same = TrainingRun(tmp_path / "run", {"net": net}, {"net": opt}, 3, seed=0, device=torch.device("cpu"),
                       fingerprint={"settings": {"lr": 0.01}})
    assert same.start_epoch == 2
    other_seed = TrainingRun(tmp_path / "run", {"net": net}, {"net": opt}, 3, seed=1, device=torch.device("cpu"),
                             fingerprint={"settings": {"lr": 0.01}})
    assert other_seed.start_epoch == 0


def test_run_fingerprint_stamps_inputs_and_leaves_the_epoch_count_out(tmp_path):
    data = tmp_path / "features.npy"
    data.write_bytes(b"12345")
    first = run_fingerprint({"epochs": 3, "lr": 0.1}, [data, None], rep="lms")
    assert first["settings"] == {"lr": 0.1}
    assert first["rep"] == "lms"
    assert first["inputs"][str(data)][0] == 5
    assert run_fingerprint({"epochs": 9, "lr": 0.1}, [data], rep="lms") == first
    os.utime(data, ns=(1, 1))  # an upstream rule rewrote it
    assert run_fingerprint({"epochs": 3, "lr": 0.1}, [data], rep="lms") != first




# The project's Adam (training.adam) against torch's, in a fresh interpreter: whether
# torch._dynamo gets imported is a property of the process.
ADAM_PROBE = textwrap.dedent("""
    import sys, torch
    from crossmodal import training

    def run(make):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Flatten(), torch.nn.Linear(144, 3))
        opt = make(net.parameters())
        calls = []
        opt.register_step_post_hook(lambda *_: calls.append(1))
        for _ in range(15):
            loss = net(torch.randn(8, 1, 8, 8)).square().mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        state = opt.state_dict()
        opt.load_state_dict(state)
        return [p.detach().clone() for p in net.parameters()], state, len(calls)

    settings = dict(lr=1e-2, betas=(0.5, 0.999), weight_decay=1e-4)
    ours, our_state, our_hooks = run(lambda p: training.adam(p, **settings))
    print("dynamo after ours:", "torch._dynamo" in sys.modules)
    theirs, their_state, their_hooks = run(lambda p: torch.optim.Adam(p, **settings))
    print("dynamo after torch's:", "torch._dynamo" in sys.modules)
    print("weights equal:", all(torch.equal(a, b) for a, b in zip(ours, theirs)))
    print("state equal:", our_state["param_groups"] == their_state["param_groups"] and all(
        torch.equal(our_state["state"][k][n], their_state["state"][k][n]) for k in their_state["state"]
        for n in their_state["state"][k]))
    print("hooks:", our_hooks, their_hooks)
    print("marked once loaded:", training.skip_dynamo_import())
""")


def test_project_adam_skips_the_dynamo_import_and_steps_as_torchs_adam_bit_for_bit():
    out = subprocess.run([sys.executable, "-c", ADAM_PROBE], capture_output=True, text=True, check=True).stdout
    lines = dict(line.split(": ", 1) for line in out.strip().splitlines())
    assert lines == {
        "dynamo after ours": "False",  # 15 steps, zero_grad, state_dict, load_state_dict: no import
        "dynamo after torch's": "True",  # torch's own step imports it (the probe can tell)
        "weights equal": "True",
        "state equal": "True",
        "hooks": "15 15",  # torch's optimizer hooks still run around EagerAdam.step
        "marked once loaded": "0",  # with torch._dynamo loaded, nothing is changed
    }


def test_skip_dynamo_import_finds_the_optimizer_methods_torch_wraps():
    wrapped = {getattr(fn, "__qualname__", "") for fn in training._dynamo_disable_wrappers()}
    assert {"Optimizer.add_param_group", "Optimizer.zero_grad", "Optimizer.state_dict",
            "Optimizer.load_state_dict", "adam"} <= wrapped
