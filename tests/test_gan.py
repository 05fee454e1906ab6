"""The GAN-CLS networks (Sec. 3.1), losses (Eq. 3, 4), wrong-pair samplers (Eq. 5-7) and loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from windows_world import Track

from crossmodal import cli
from crossmodal.gan.objective import (
    WrongPairSampler,
    discriminator_loss,
    generator_loss,
)
from crossmodal.gan.train import GANData, GANSettings, GANTrainer, epoch_batches, sample_grid_items
from crossmodal.models.gan import (
    Compress,
    I2SDiscriminator,
    I2SGenerator,
    S2IDiscriminator,
    S2IGenerator,
    build_gan,
    denormalize_lms,
    load_gan,
    normalize_lms,
    resize_lms,
)
from crossmodal.training import read_metrics

torch.set_num_threads(1)


# ------------------------------------------------------------------ shapes
def test_compress_maps_128_encoding_to_64_with_leaky_relu():
    phi = Compress(128, 64)
    x = torch.randn(5, 128)
    out = phi(x)
    assert out.shape == (5, 64)
    pre = x @ phi.fc.weight.T + phi.fc.bias
    torch.testing.assert_close(out, torch.where(pre > 0, pre, 0.2 * pre))
    assert (out < 0).any()  # leaky: negative values are scaled, not cut


def test_s2i_generator_makes_64x64x3_images_in_tanh_range():
    g = S2IGenerator(z_dim=10, ngf=8)
    x = g(torch.randn(4, 128), torch.randn(4, 10))
    assert x.shape == (4, 3, 64, 64)
    assert x.min() >= -1 and x.max() <= 1


def test_s2i_discriminator_scores_one_logit_per_pair():
    d = S2IDiscriminator(ndf=8)
    assert d(torch.rand(4, 3, 64, 64) * 2 - 1, torch.randn(4, 128)).shape == (4,)
    assert d.features(torch.zeros(2, 3, 64, 64)).shape[-2:] == (4, 4)


def test_generators_refuse_noise_of_the_wrong_size():
    with pytest.raises(ValueError, match="z must have shape"):
        S2IGenerator(z_dim=10, ngf=4)(torch.randn(2, 128), torch.randn(2, 11))


def test_i2s_generator_reaches_32x32x128_map_then_128x34_lms():
    g = I2SGenerator(z_dim=10, ngf=128, extra_layers=2)
    e, z = torch.randn(2, 128), torch.randn(2, 10)
    with torch.no_grad():
        square = g.square_map(e, z)
        assert square.shape == (2, 128, 32, 32)  # the paper's 32x32x128
        assert g.extra(square).shape == (2, 128, 32, 32)
        after_first = g.to_lms_map[:3](g.extra(square))
        assert after_first.shape[-2:] == (64, 33)  # kernel 4, stride 2x1, pad 1
        out = g(e, z)
    assert out.shape == (2, 1, 128, 34)
    assert out.min() >= -1 and out.max() <= 1
    assert sum(isinstance(m, torch.nn.Conv2d) for m in g.extra) == 2


def test_i2s_discriminator_first_two_layers_make_a_32x32_map():
    d = I2SDiscriminator(ndf=8, extra_layers=12)
    lms = torch.randn(3, 1, 128, 34)
    assert d.to_square[:2](lms).shape[-2:] == (64, 33)
    assert d.to_square(lms).shape == (3, 8, 32, 32)
    assert d(lms, torch.randn(3, 128)).shape == (3,)
    square_3x3 = [m for m in d.square if isinstance(m, torch.nn.Conv2d) and m.kernel_size == (3, 3)]
    assert len(square_3x3) == 12


# ------------------------------------------------------------------ LMS resize
def test_numpy_resize_mode_is_np_resize_per_window():
    lms = np.random.default_rng(0).normal(size=(3, 128, 44)).astype(np.float32)
    small = resize_lms(lms, 34, "numpy")
    back = resize_lms(small, 44, "numpy")
    for i in range(3):
        np.testing.assert_array_equal(small[i], np.resize(lms[i], (128, 34)))
        np.testing.assert_array_equal(back[i], np.resize(small[i], (128, 44)))
    # The round trip keeps the first 128*34 values and repeats the lowest bins above them.
    np.testing.assert_array_equal(back.reshape(3, -1)[:, :128 * 34], lms.reshape(3, -1)[:, :128 * 34])
    np.testing.assert_array_equal(back.reshape(3, -1)[:, 128 * 34:], lms.reshape(3, -1)[:, :128 * 10])
    torch.testing.assert_close(resize_lms(torch.from_numpy(lms), 34, "numpy"), torch.from_numpy(small))


def test_interpolating_resize_keeps_each_mel_bin_in_its_row():
    levels = np.linspace(-80, 0, 128, dtype=np.float32)
    lms = np.repeat(levels[None, :, None], 44, axis=2)  # constant in time, one level per bin
    small = resize_lms(lms, 34)
    assert small.shape == (1, 128, 34) and small.dtype == np.float32
    np.testing.assert_allclose(small[0], np.repeat(levels[:, None], 34, axis=1), atol=1e-4)
    ramp = np.tile(np.arange(44, dtype=np.float32), (1, 128, 1))
    back = resize_lms(resize_lms(ramp, 34), 44)
    assert np.abs(back - ramp).max() < 1.0  # a linear ramp in time survives the round trip


def test_unknown_resize_mode_is_refused():
    with pytest.raises(ValueError, match="resize mode"):
        resize_lms(np.zeros((1, 128, 44), np.float32), 34, "nearest")


def test_i2s_generator_output_goes_back_to_lms_units_and_128x44():
    g = I2SGenerator(z_dim=4, ngf=4, extra_layers=0)
    g.set_lms_range(-100.0, 20.0)
    out = torch.tensor([-1.0, 1.0]).view(2, 1, 1, 1).expand(2, 1, 128, 34)
    lms = g.to_lms(out)
    assert lms.shape == (2, 128, 44)
    torch.testing.assert_close(lms[0], torch.full((128, 44), -100.0))
    torch.testing.assert_close(lms[1], torch.full((128, 44), 20.0))
    x = np.array([-100.0, -40.0, 20.0])
    np.testing.assert_allclose(normalize_lms(x, -100, 20), [-1, 0, 1])
    np.testing.assert_allclose(denormalize_lms(normalize_lms(x, -100, 20), -100, 20), x)


# ------------------------------------------------------------------ losses
def _logit(p):
    return torch.tensor([math.log(p / (1 - p))])


def test_discriminator_loss_is_eq4_on_hand_computed_scores():
    loss = discriminator_loss(_logit(0.8), _logit(0.3), _logit(0.4))
    expected = -(math.log(0.8) + (math.log(1 - 0.4) + math.log(1 - 0.3)) / 2)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_discriminator_loss_without_wrong_pairs_is_the_plain_gan_loss():
    loss = discriminator_loss(_logit(0.8), _logit(0.3))
    assert loss.item() == pytest.approx(-(math.log(0.8) + math.log(0.7)), rel=1e-6)


def test_generator_loss_is_minus_log_sf_and_stays_finite_for_saturated_scores():
    assert generator_loss(_logit(0.3)).item() == pytest.approx(-math.log(0.3), rel=1e-6)
    big = generator_loss(torch.tensor([-200.0]))
    assert math.isfinite(big.item()) and big.item() == pytest.approx(200.0)
    assert math.isfinite(discriminator_loss(torch.tensor([-200.0]), torch.tensor([200.0])).item())


def test_losses_average_over_the_batch():
    real, fake = torch.tensor([_logit(0.9).item(), _logit(0.5).item()]), torch.tensor([_logit(0.2).item()] * 2)
    expected = -(math.log(0.9) + math.log(0.5)) / 2 - math.log(0.8)
    assert discriminator_loss(real, fake).item() == pytest.approx(expected, rel=1e-6)


# ------------------------------------------------------------------ wrong pairs
LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 5])


def test_other_instrument_sampler_draws_only_other_instruments():
    sampler = WrongPairSampler(LABELS, "other_instrument")
    rng = np.random.default_rng(0)
    idx = np.tile(np.arange(len(LABELS)), 200)
    wrong = sampler(idx, rng)
    assert (LABELS[wrong] != LABELS[idx]).all()
    # Every item of another instrument is reachable (uniform over I_{-i}).
    for i in range(len(LABELS)):
        assert set(wrong[idx == i]) == set(np.flatnonzero(LABELS != LABELS[i]))


def test_other_instrument_sampler_is_uniform_over_the_other_items():
    labels = np.array([0, 1, 1, 1, 1])
    wrong = WrongPairSampler(labels, "other_instrument")(np.zeros(40000, dtype=int), np.random.default_rng(1))
    counts = np.bincount(wrong, minlength=5)
    assert counts[0] == 0
    np.testing.assert_allclose(counts[1:] / 40000, 0.25, atol=0.01)


def test_same_instrument_sampler_draws_another_item_of_the_same_instrument():
    labels = LABELS[:9]
    sampler = WrongPairSampler(labels, "same_instrument")
    idx = np.tile(np.arange(len(labels)), 200)
    wrong = sampler(idx, np.random.default_rng(0))
    assert (labels[wrong] == labels[idx]).all()
    assert (wrong != idx).all()
    for i in range(len(labels)):
        assert set(wrong[idx == i]) == set(np.flatnonzero(labels == labels[i])) - {i}


def test_samplers_refuse_sets_they_cannot_draw_from():
    with pytest.raises(ValueError, match="two items per instrument"):
        WrongPairSampler(LABELS, "same_instrument")  # label 5 has one item
    with pytest.raises(ValueError, match="at least two instruments"):
        WrongPairSampler(np.zeros(4, dtype=int), "other_instrument")
    with pytest.raises(ValueError, match="wrong-pair mode"):
        WrongPairSampler(LABELS, "none")


def test_sample_grid_has_a_row_per_instrument():
    grid = sample_grid_items(LABELS, 4)
    assert grid.shape == (4, 4)
    for row, label in zip(grid, [0, 1, 2, 5]):
        assert (LABELS[row] == label).all()


def test_sample_grid_of_one_instrument_is_square_and_spread_over_its_items():
    grid = sample_grid_items(np.full(40, 3), 4)
    assert grid.shape == (4, 4)
    assert grid[0, 0] == 0 and grid[-1, -1] == 39 and len(np.unique(grid)) == 16


# ------------------------------------------------------------------ training
def _toy_s2i(n=48, seed=0):
    """Two instruments: dark images with one encoding, bright images with another."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    encodings = (rng.normal(size=(n, 128)) * 0.1 + (labels[:, None] * 2 - 1)).astype(np.float32)
    base = np.where(labels[:, None, None, None] == 1, 220, 30)
    images = np.clip(base + rng.normal(0, 10, (n, 64, 64, 3)), 0, 255).astype(np.uint8)
    return GANData(encodings, images, labels)


def _settings(**kw):
    base = dict(kind="s2i", epochs=3, batch_size=16, z_dim=8, condition_dim=16, ngf=4, ndf=4,
                keep_every=1, sample_columns=2, learning_rate_d=1e-3, learning_rate_g=1e-3)
    return GANSettings(**{**base, **kw})


def _weights(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_training_changes_weights_and_lowers_discriminator_loss(tmp_path):
    trainer = GANTrainer(tmp_path / "run", _toy_s2i(), _settings(epochs=4), torch.device("cpu"))
    before_g, before_d = _weights(trainer.generator), _weights(trainer.discriminator)
    trainer.train()
    changed = lambda a, b: any(not torch.equal(a[k], b[k]) for k in a if a[k].is_floating_point())
    assert changed(before_g, _weights(trainer.generator))
    assert changed(before_d, _weights(trainer.discriminator))
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert float(rows[-1]["loss_d"]) < float(rows[0]["loss_d"])
    assert {"loss_d", "loss_g", "Sr", "Sw", "Sf"} <= set(rows[0])
    assert sorted(p.name for p in (tmp_path / "run" / "samples").iterdir()) == [f"epoch_000{i}.png" for i in range(1, 5)]
    assert (tmp_path / "run" / "checkpoints" / "epoch_0002.pt").exists()


def test_model_without_wrong_pairs_has_no_sw_column(tmp_path):
    GANTrainer(tmp_path / "n", _toy_s2i(), _settings(epochs=1, wrong="none"), torch.device("cpu")).train()
    assert "Sw" not in read_metrics(tmp_path / "n" / "metrics.csv")[0]


def test_resumed_gan_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path):
    straight = GANTrainer(tmp_path / "straight", _toy_s2i(), _settings(), torch.device("cpu"))
    straight.train()
    killed = GANTrainer(tmp_path / "killed", _toy_s2i(), _settings(epochs=1), torch.device("cpu"))
    killed.train()  # stands for a job killed after epoch 1: only its checkpoint survives
    resumed = GANTrainer(tmp_path / "killed", _toy_s2i(), _settings(), torch.device("cpu"))
    assert resumed.run.start_epoch == 1
    resumed.train()
    for a, b in zip(straight.generator.state_dict().values(), resumed.generator.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(straight.discriminator.state_dict().values(), resumed.discriminator.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    assert [r["loss_d"] for r in read_metrics(tmp_path / "killed" / "metrics.csv")] == \
        [r["loss_d"] for r in read_metrics(tmp_path / "straight" / "metrics.csv")]


def test_load_gan_rebuilds_the_final_and_a_kept_epoch(tmp_path):
    trainer = GANTrainer(tmp_path / "run", _toy_s2i(), _settings(epochs=2), torch.device("cpu"))
    trainer.train()
    trainer.save_final(tmp_path / "run" / "model.pt")
    g, d, extra = load_gan(tmp_path / "run" / "model.pt")
    assert isinstance(g, S2IGenerator) and isinstance(d, S2IDiscriminator) and extra["kind"] == "s2i"
    e, z = torch.randn(2, 128), torch.randn(2, 8)
    trainer.generator.eval()
    with torch.no_grad():
        torch.testing.assert_close(g(e, z), trainer.generator(e, z))
    g1, _, _ = load_gan(tmp_path / "run" / "model.pt", tmp_path / "run" / "checkpoints" / "epoch_0001.pt")
    assert not torch.equal(g1.to_image[0].weight, g.to_image[0].weight)


def test_gan_conv_weights_are_channels_last_when_built_and_when_loaded(tmp_path):
    def conv_weights(*networks):
        return [m.weight for n in networks for m in n.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]

    for kind in ("s2i", "i2s"):
        weights = conv_weights(*build_gan(kind, {}, {}))
        assert all(w.is_contiguous(memory_format=torch.channels_last) for w in weights)
        assert sum(not w.is_contiguous() for w in weights) > len(weights) // 2  # one-channel weights are both
    trainer = GANTrainer(tmp_path / "run", _toy_s2i(), _settings(epochs=1), torch.device("cpu"))
    trainer.train()
    trainer.save_final(tmp_path / "run" / "model.pt")
    loaded = conv_weights(*load_gan(tmp_path / "run" / "model.pt")[:2])
    assert all(w.is_contiguous(memory_format=torch.channels_last) for w in loaded)


def test_average_generator_follows_g_with_the_warmed_up_decay(tmp_path):
    trainer = GANTrainer(tmp_path / "run", _toy_s2i(), _settings(ema_decay=0.9), torch.device("cpu"))
    assert trainer.evaluated_generator is trainer.average
    before = _weights(trainer.average)
    with torch.no_grad():
        for p in trainer.generator.parameters():
            p.add_(1.0)
    trainer.update_average(step=0)  # warm-up: decay min(0.9, 1 / 10) = 0.1
    name = "to_image.0.weight"
    torch.testing.assert_close(trainer.average.state_dict()[name],
                               0.1 * before[name] + 0.9 * trainer.generator.state_dict()[name])
    moved = _weights(trainer.average)
    trainer.update_average(step=1000)  # past the warm-up: the configured 0.9
    torch.testing.assert_close(trainer.average.state_dict()[name],
                               0.9 * moved[name] + 0.1 * trainer.generator.state_dict()[name])


def test_gan_with_an_average_saves_it_and_load_gan_returns_it(tmp_path):
    trainer = GANTrainer(tmp_path / "run", _toy_s2i(), _settings(epochs=2, ema_decay=0.5), torch.device("cpu"))
    trainer.train()
    trainer.save_final(tmp_path / "run" / "model.pt")
    states = torch.load(tmp_path / "run" / "model.pt", weights_only=True)["models"]
    assert set(states) == {"generator", "discriminator", "generator_ema"}
    assert not torch.equal(states["generator"]["to_image.0.weight"], states["generator_ema"]["to_image.0.weight"])
    g, _, _ = load_gan(tmp_path / "run" / "model.pt")
    assert torch.equal(g.state_dict()["to_image.0.weight"], states["generator_ema"]["to_image.0.weight"])
    kept = torch.load(tmp_path / "run" / "checkpoints" / "epoch_0001.pt", weights_only=True)["models"]
    g1, _, _ = load_gan(tmp_path / "run" / "model.pt", tmp_path / "run" / "checkpoints" / "epoch_0001.pt")
    assert torch.equal(g1.state_dict()["to_image.0.weight"], kept["generator_ema"]["to_image.0.weight"])
    # A GAN without one keeps the paper's layout: G's own last weights are evaluated.
    plain = GANTrainer(tmp_path / "plain", _toy_s2i(), _settings(epochs=1), torch.device("cpu"))
    plain.train()
    plain.save_final(tmp_path / "plain" / "model.pt")
    assert plain.evaluated_generator is plain.generator
    assert set(torch.load(tmp_path / "plain" / "model.pt", weights_only=True)["models"]) == {"generator", "discriminator"}


def test_resumed_gan_with_an_average_ends_with_the_same_average(tmp_path):
    straight = GANTrainer(tmp_path / "straight", _toy_s2i(), _settings(ema_decay=0.9), torch.device("cpu"))
    straight.train()
    GANTrainer(tmp_path / "killed", _toy_s2i(), _settings(epochs=1, ema_decay=0.9), torch.device("cpu")).train()
    resumed = GANTrainer(tmp_path / "killed", _toy_s2i(), _settings(ema_decay=0.9), torch.device("cpu"))
    assert resumed.run.start_epoch == 1
    resumed.train()
    for a, b in zip(straight.average.state_dict().values(), resumed.average.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_balanced_epoch_draws_instruments_by_the_power_of_their_pair_counts():
    labels = np.repeat([0, 1], [900, 100])
    for balance, rare_share in ((1.0, 0.5), (0.5, 0.25)):  # 100^-b * 100 / (900^-b * 900 + 100^-b * 100)
        batches = epoch_batches(labels, 64, balance, np.random.default_rng(0))
        assert [len(b) for b in batches] == [64] * 15 + [40]  # as many pairs as there are
        drawn = labels[np.concatenate(batches)]
        assert abs(drawn.mean() - rare_share) < 0.04
    again = epoch_batches(labels, 64, 0.5, np.random.default_rng(0))
    assert all(np.array_equal(a, b) for a, b in zip(again, epoch_batches(labels, 64, 0.5, np.random.default_rng(0))))


def test_balanced_gan_trains_and_resumes_to_the_same_weights(tmp_path):
    data = _toy_s2i(n=40)
    data = GANData(data.encodings, data.targets, (np.arange(40) < 32).astype(np.int64))  # 32 pairs against 8
    straight = GANTrainer(tmp_path / "straight", data, _settings(balance=1.0), torch.device("cpu"))
    straight.train()
    GANTrainer(tmp_path / "killed", data, _settings(epochs=1, balance=1.0), torch.device("cpu")).train()
    resumed = GANTrainer(tmp_path / "killed", data, _settings(balance=1.0), torch.device("cpu"))
    resumed.train()
    for a, b in zip(straight.generator.state_dict().values(), resumed.generator.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_balance_leaves_a_one_instrument_model_with_plain_epochs(tmp_path):
    """A pose model's pairs are all one instrument: balance must not turn its epochs into draws
    with replacement (every pair once an epoch, as without balance)."""
    data = _toy_s2i(n=32)
    data = GANData(data.encodings, data.targets, np.zeros(32, dtype=np.int64))
    runs = {}
    for balance in (0.0, 0.5):
        trainer = GANTrainer(tmp_path / str(balance), data, _settings(epochs=1, balance=balance, wrong="none"),
                             torch.device("cpu"))
        trainer.train()
        runs[balance] = trainer.generator.state_dict()
    for name, tensor in runs[0.0].items():
        assert torch.equal(tensor, runs[0.5][name]), name


def test_average_decay_and_balance_outside_their_ranges_are_refused():
    with pytest.raises(ValueError, match="ema_decay"):
        _settings(ema_decay=1.0)
    with pytest.raises(ValueError, match="balance"):
        _settings(balance=1.5)


def test_i2s_trainer_keeps_the_lms_range_in_the_generator(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.arange(16) % 2
    data = GANData(rng.normal(size=(16, 128)).astype(np.float32),
                   rng.uniform(-1, 1, (16, 1, 128, 34)).astype(np.float32), labels, lms_range=(-90.0, 10.0))
    trainer = GANTrainer(tmp_path / "i2s", data, _settings(kind="i2s", epochs=1, generator_extra_layers=1,
                                                           discriminator_extra_layers=1), torch.device("cpu"))
    trainer.train()
    trainer.save_final(tmp_path / "i2s" / "model.pt")
    g, _, _ = load_gan(tmp_path / "i2s" / "model.pt")
    assert isinstance(g, I2SGenerator)
    assert (g.lms_low.item(), g.lms_high.item()) == (-90.0, 10.0)
    with torch.no_grad():
        lms = g.to_lms(g(torch.randn(2, 128), torch.randn(2, 8)))
    assert lms.shape == (2, 128, 44) and lms.min() >= -90.0 and lms.max() <= 10.0


# ------------------------------------------------------------------ the CLI step on a tiny store
def _write_store(root, windows_world, image_size=64):
    """A windows manifest over 6 tracks (violin, cello; train and test) with frames, audio, encodings, LMS."""
    rng = np.random.default_rng(0)
    specs = [("violin", "train"), ("violin", "train"), ("violin", "test"),
             ("cello", "train"), ("cello", "train"), ("cello", "test")]
    tracks, n = [], 6
    for t, (instrument, split) in enumerate(specs):
        shade = 40 if instrument == "violin" else 200
        frames = np.clip(shade + rng.normal(0, 20, (n, image_size, image_size, 3)), 0, 255).astype(np.uint8)
        tracks.append(Track(f"0{t}_Toy_1_vn", instrument, split, frames, np.zeros(22050 + n * 4410, np.float32),
                            piece=f"0{t}_Toy_vn", take_id=f"take{t}", folder=f"track{t}"))
    windows = windows_world(root, tracks)
    labels = windows["label"].to_numpy()
    np.save(root / "encodings.npy", (rng.normal(size=(len(windows), 128)) + labels[:, None]).astype(np.float32))
    np.save(root / "lms.npy", rng.uniform(-80, 0, (len(windows), 128, 44)).astype(np.float32))
    return windows


TINY_FLAGS = ["--epochs", "2", "--batch-size", "8", "--z-dim", "4", "--condition-dim", "8", "--ngf", "4", "--ndf", "4",
              "--keep-every", "1", "--sample-columns", "2"]


def test_train_gan_step_trains_s2i_on_train_pairs_and_writes_its_outputs(tmp_path, windows_world):
    _write_store(tmp_path, windows_world)
    out = tmp_path / "gan" / "s2i_c" / "model.pt"
    assert cli.main(["train-gan", "--windows", str(tmp_path / "windows.parquet"), "--encodings",
                     str(tmp_path / "encodings.npy"), "--kind", "s2i", "--out", str(out), *TINY_FLAGS]) == 0
    g, _, extra = load_gan(out)
    assert extra["n_pairs"] == 24 and extra["settings"]["wrong"] == "other_instrument"
    assert (out.parent / "samples" / "epoch_0002.png").exists()
    assert len(read_metrics(out.parent / "metrics.csv")) == 2


def test_train_gan_step_trains_pose_s2i_on_one_instrument(tmp_path, windows_world):
    _write_store(tmp_path, windows_world)
    out = tmp_path / "gan" / "pose_s2i_violin" / "model.pt"
    assert cli.main(["train-gan", "--windows", str(tmp_path / "windows.parquet"), "--encodings",
                     str(tmp_path / "encodings.npy"), "--kind", "s2i", "--wrong", "same_instrument",
                     "--instrument", "violin", "--out", str(out), *TINY_FLAGS]) == 0
    _, _, extra = load_gan(out)
    assert extra["n_pairs"] == 12 and extra["instrument"] == "violin"


def test_train_gan_step_trains_i2s_from_the_lms_store(tmp_path, windows_world):
    _write_store(tmp_path, windows_world)
    out = tmp_path / "gan" / "i2s" / "model.pt"
    assert cli.main(["train-gan", "--windows", str(tmp_path / "windows.parquet"), "--encodings",
                     str(tmp_path / "encodings.npy"), "--lms", str(tmp_path / "lms.npy"), "--kind", "i2s",
                     "--generator-extra-layers", "1", "--discriminator-extra-layers", "1", "--resize", "numpy",
                     "--out", str(out), *TINY_FLAGS]) == 0
    g, _, extra = load_gan(out)
    assert extra["kwargs"]["generator"]["resize"] == "numpy" and g.resize == "numpy"
    lms = np.load(tmp_path / "lms.npy")
    train = resize_lms(lms[np.r_[0:12, 18:30]], 34, "numpy")  # tracks 0, 1, 3, 4 are the train split
    assert (g.lms_low.item(), g.lms_high.item()) == pytest.approx((train.min(), train.max()))
    assert extra["n_pairs"] == 24


def test_train_gan_step_fails_clearly_on_an_encoding_store_of_another_length(tmp_path, windows_world):
    _write_store(tmp_path, windows_world)
    np.save(tmp_path / "short.npy", np.zeros((5, 128), np.float32))
    code = cli.main(["train-gan", "--windows", str(tmp_path / "windows.parquet"), "--encodings",
                     str(tmp_path / "short.npy"), "--kind", "s2i", "--out", str(tmp_path / "m.pt"), *TINY_FLAGS])
    assert code == 1
    assert not (tmp_path / "m.pt").exists()


def test_rerun_with_changed_settings_starts_over_and_unchanged_rerun_resumes(tmp_path, windows_world, caplog):
    _write_store(tmp_path, windows_world)
    out = tmp_path / "gan" / "s2i_c" / "model.pt"
    base = ["train-gan", "--windows", str(tmp_path / "windows.parquet"), "--encodings", str(tmp_path / "encodings.npy"),
            "--kind", "s2i", "--out", str(out), *TINY_FLAGS]
    assert cli.main(base) == 0
    first = torch.load(out, weights_only=True)["models"]["generator"]
    out.unlink()  # Snakemake removes the outputs before rerunning a job
    with caplog.at_level("INFO"):
        assert cli.main(base) == 0  # unchanged: resumes after the last epoch, trains nothing more
    assert "resuming" in caplog.text and "starting afresh" not in caplog.text
    again = torch.load(out, weights_only=True)["models"]["generator"]
    assert all(torch.equal(first[k], again[k]) for k in first)
    caplog.clear()
    with caplog.at_level("INFO"):
        assert cli.main([*base, "--learning-rate-g", "0.01"]) == 0  # a changed setting: start over
    assert "starting afresh" in caplog.text and "settings.learning_rate_g" in caplog.text
    rows = read_metrics(out.parent / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    changed = torch.load(out, weights_only=True)["models"]["generator"]
    assert any(not torch.equal(first[k], changed[k]) for k in first if first[k].is_floating_point())
