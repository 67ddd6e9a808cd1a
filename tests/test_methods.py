"""The Table 1 methods beyond the paper's: label spreading, the supervised CNN, the log-mel floor;
augmentation; hard negatives; best-epoch selection; artists in the synthetic corpus."""

import dataclasses

import numpy as np
import pytest
import torch

from graham.audio.bandstats import mel_band_statistics
from graham.errors import ParameterError
from graham.evaluate.baselines import label_spreading
from graham.nn.xception import Xception
from graham.presets import AugmentConfig
from graham.train.augment import augment_batch, mix_power_db
from graham.train.pairs import sample_pairs

from tiny import TINY, tiny_siamese, toy_mels


def test_mel_band_statistics_match_the_formula():
    rng = np.random.default_rng(0)
    mels = [rng.normal(-40, 10, (5, n)) for n in (7, 12)]
    feats = mel_band_statistics(mels)
    for m, f in zip(mels, feats):
        for b in range(5):
            row = m[b]
            mean = sum(row) / len(row)
            std = (sum((v - mean) ** 2 for v in row) / len(row)) ** 0.5
            delta = sum(abs(row[t + 1] - row[t]) for t in range(len(row) - 1)) / (len(row) - 1)
            assert f[b] == pytest.approx(mean, rel=1e-5) and f[5 + b] == pytest.approx(std, rel=1e-5)
            assert f[10 + b] == pytest.approx(delta, rel=1e-5)


def test_label_spreading_follows_the_clusters_from_one_label_each():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 0.3, (20, 4)) + 5, rng.normal(0, 0.3, (20, 4)) - 5])
    y = np.repeat([0, 1], 20)
    labelled = np.array([0, 1, 20, 21])
    test = np.setdiff1d(np.arange(40), labelled)
    assert (label_spreading(x, y, labelled, test, n_neighbors=5) == y[test]).all()
    with pytest.raises(ParameterError, match="two classes"):
        label_spreading(x, y, np.array([0, 1]), test)


def test_mixing_is_the_power_domain_sum():
    rng = np.random.default_rng(2)
    a, b = rng.uniform(-80, 0, (2, 3, 4)), rng.uniform(-80, 0, (2, 3, 4))
    w = np.array([0.7, 0.55]).reshape(2, 1, 1)
    ref = 10 * np.log10(w * 10 ** (a / 10) + (1 - w) * 10 ** (b / 10))
    got = mix_power_db(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(w)).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-9)


def test_augmentation_mixes_only_within_a_genre_and_masks_with_the_mean():
    rng = np.random.default_rng(3)
    x = torch.from_numpy(rng.uniform(-80, 0, (4, 16, 20)).astype(np.float32))
    # All genres differ: nothing to mix with, so mixing alone changes nothing.
    same = augment_batch(x, np.arange(4), AugmentConfig(mix=1.0), np.random.default_rng(0))
    torch.testing.assert_close(same, x)
    mixed = augment_batch(x, np.array([0, 0, 1, 1]), AugmentConfig(mix=1.0), np.random.default_rng(0))
    assert not torch.equal(mixed, x)
    for i, partner in ((0, 1), (1, 0), (2, 3), (3, 2)):  # each crop is a mixture of itself and its genre mate
        assert ((mixed[i] >= torch.minimum(x[i], x[partner]) - 1e-4) & (mixed[i] <= torch.maximum(x[i], x[partner]) + 1e-4)).all()
    masked = augment_batch(x, np.arange(4), AugmentConfig(time_masks=1, time_mask_frac=0.5), np.random.default_rng(1))
    changed = (masked != x).any(dim=1)  # (B, frames): masked frames
    for i in range(4):
        cols = torch.nonzero(changed[i]).flatten()
        if len(cols):
            assert torch.allclose(masked[i][:, cols], x[i].mean().expand(16, len(cols)))
            assert cols.max() - cols.min() + 1 == len(cols) <= 10  # one contiguous mask, at most half
    torch.testing.assert_close(x, x.clone())  # the input is never changed in place
    with pytest.raises(ParameterError):
        AugmentConfig(mix=2.0)


def test_gain_is_invisible_to_the_backbone():
    torch.manual_seed(0)
    net = Xception(TINY).eval()
    x = torch.randn(2, 32, 40) * 10 - 40
    with torch.no_grad():
        torch.testing.assert_close(net(x + 12.0), net(x), atol=1e-4, rtol=1e-4)


def test_frequency_coordinates_make_the_backbone_see_where_a_band_is():
    torch.manual_seed(0)
    low, high = torch.full((1, 32, 40), -60.0), torch.full((1, 32, 40), -60.0)
    low[:, 4:8], high[:, 24:28] = -10.0, -10.0
    flip = torch.flip(high, dims=[1])  # the same pattern, mirrored in frequency
    with torch.no_grad():
        plain = Xception(TINY).eval()
        aware = Xception(dataclasses.replace(TINY, freq_coord=True)).eval()
        assert aware.stem[0].in_channels == 2 and plain.stem[0].in_channels == 1
        assert not torch.allclose(aware(flip), aware(high))
        assert not torch.allclose(aware(low), aware(high))


def test_hard_negatives_are_the_highest_scoring_different_genre_pairs():
    labels = np.array([0, 0, 1, 1, 2, 2])
    i, j = np.triu_indices(6, 1)
    scores = np.arange(len(i), dtype=np.float64)  # later pairs score higher
    ii, jj, y = sample_pairs(labels, np.random.default_rng(0), scores=scores, hard_fraction=1.0)
    neg_scores = sorted(scores[(labels[i] != labels[j])])
    chosen = [scores[(i == a) & (j == b)][0] for a, b, t in zip(ii, jj, y) if t == 0]
    assert sorted(chosen) == neg_scores[-len(chosen):] and y.sum() == len(y) / 2 == 3


def test_siamese_returns_its_best_validation_epoch_with_or_without_checkpoints(tmp_path):
    from graham.train.siamese import train_siamese
    from graham.utils.tensorfile import load_checkpoint

    mels, labels = toy_mels(n_per_class=8)
    cfg = tiny_siamese(epochs=4, val_fraction=0.25, min_batches=1)
    with_ckpt = train_siamese(mels, labels, cfg, out=tmp_path, progress=False)
    without = train_siamese(mels, labels, cfg, progress=False)
    assert "val_centroid_acc" in with_ckpt.history[-1]
    scores = [r["val_centroid_acc"] for r in with_ckpt.history]
    assert with_ckpt.history[with_ckpt.best_epoch]["val_centroid_acc"] == max(scores)
    best, _ = load_checkpoint(tmp_path / "best.safetensors")
    for k, v in without.model.state_dict().items():
        torch.testing.assert_close(v, best[f"model/{k}"])


def test_supervised_cnn_learns_and_averages_windows():
    from graham.train.supervised import predict_proba_clips, train_supervised_cnn

    mels, labels = toy_mels(n_per_class=6, classes=3)
    res = train_supervised_cnn(mels, labels, 3, tiny_siamese(epochs=10, lr=1e-2, min_batches=3), progress=False)
    proba = predict_proba_clips(res.model, mels, crop_frames=32)
    assert proba.shape == (18, 3) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert (proba.argmax(1) == labels).mean() > 0.6  # chance: 1/3
    from graham.train.crops import MelCrops
    w = MelCrops(mels[:1], 32).windows(0, 16)
    with torch.no_grad():
        ref = torch.softmax(res.model(w), dim=1).mean(0).numpy()
    np.testing.assert_allclose(proba[0], ref, atol=1e-6)


def test_synthetic_artists_share_a_style_and_group_their_clips():
    from graham.data import open_dataset
    from graham.evaluate.splits import grouped_split
    from graham.synth.artists import artist_seed, artist_style
    from graham.synth.corpus import synthesize_clip
    from graham.synth.score import compose

    style = artist_style("rock", artist_seed(0, "rock", 1))
    assert len(style.bass_patch) == len(style.drums) == len(style.comp_patch) == 1
    assert 96 <= style.tempo[0] < style.tempo[1] <= 152 and style.tempo[1] - style.tempo[0] < 0.31 * 56
    for index in (1, 3, 5):  # artist 1 of 2
        score, _ = synthesize_clip("rock", index, seconds=1.0, artists=2)
        assert style.tempo[0] <= score.tempo <= style.tempo[1]
        assert {n.patch for n in score.notes if n.track == "bass"} <= set(style.bass_patch)
    # Without artists, a clip is the one the corpus always had.
    from graham.synth.corpus import clip_seeds
    plain, _ = synthesize_clip("rock", 3, seconds=1.0)
    assert plain.notes == compose("rock", seconds=1.0, seed=clip_seeds(0, "rock", 3)[0]).notes
    corpus = open_dataset("synthetic:4x1@2", genres=["rock", "jazz"], progress=False)
    assert sorted(set(corpus.groups)) == ["jazz-artist0", "jazz-artist1", "rock-artist0", "rock-artist1"]
    assert "2 artists per genre" in corpus.name
    labels = np.asarray(corpus.targets())
    sp = grouped_split(labels, corpus.groups, test_size=0.5, seed=0)
    groups = np.asarray(corpus.groups)
    assert not set(groups[sp.train]) & set(groups[sp.test])
    with pytest.raises(Exception, match="artists"):
        open_dataset("synthetic:4x1@x", progress=False)


def test_identification_loss_trains_a_classifier_that_is_checkpointed_and_dropped(tmp_path):
    from graham.train.siamese import train_siamese
    from graham.utils.tensorfile import load_checkpoint

    mels, labels = toy_mels(n_per_class=4)
    on = train_siamese(mels, labels, tiny_siamese(epochs=1, identification=1.0), out=tmp_path / "on", progress=False)
    off = train_siamese(mels, labels, tiny_siamese(epochs=1, identification=0.0), out=tmp_path / "off", progress=False)
    last_on, _ = load_checkpoint(tmp_path / "on" / "last.safetensors")
    last_off, _ = load_checkpoint(tmp_path / "off" / "last.safetensors")
    assert last_on["ident/weight"].shape == (4, 16) and not any(k.startswith("ident/") for k in last_off)
    # Same seed and batches: the extra loss changes the embedding network's weights.
    k = "backbone.stem.0.weight"
    assert not torch.allclose(on.model.state_dict()[k], off.model.state_dict()[k])
    assert set(on.model.state_dict()) == set(off.model.state_dict())  # the classifier is not part of the model


def test_min_batches_lengthens_a_short_epoch():
    from graham.train.pairs import ClassBalancedBatchSampler

    labels = np.repeat(np.arange(4), 3)
    assert len(ClassBalancedBatchSampler(labels, classes_per_batch=4, per_class=3)) == 1
    s = ClassBalancedBatchSampler(labels, classes_per_batch=4, per_class=3, min_batches=5)
    assert len(s) == 5 and len(list(s)) == 5


def test_augmentation_reaches_siamese_training():
    from graham.train.siamese import train_siamese

    mels, labels = toy_mels(n_per_class=4)
    plain = train_siamese(mels, labels, tiny_siamese(epochs=1), progress=False)
    aug = train_siamese(mels, labels, tiny_siamese(epochs=1, augment=AugmentConfig.preset("cpu")), progress=False)
    k = "backbone.stem.0.weight"
    assert not torch.allclose(plain.model.state_dict()[k], aug.model.state_dict()[k])
    assert AugmentConfig.preset("paper") == AugmentConfig() and not AugmentConfig().active


def test_class_balanced_baselines_give_a_rare_class_its_share():
    """``balanced=True``: with 60 labelled clips of one class and 6 of an overlapping other, every baseline
    predicts the rare class more often on a test set where both are equally common. Fails if a
    baseline ignores the flag, or weighs the frequent class up."""
    from graham.evaluate.baselines import fit_baseline

    rng = np.random.default_rng(0)
    y_lab = np.array([0] * 60 + [1] * 6)
    y_test = np.array([0] * 100 + [1] * 100)
    y = np.concatenate([y_lab, y_test])
    x = rng.normal(0, 1, (len(y), 2)) + 1.2 * y[:, None]  # the classes overlap
    lab, test = np.arange(len(y_lab)), np.arange(len(y_lab), len(y))
    for name in ("random_forest", "mlp_2layer"):
        plain = fit_baseline(name, x[lab], y[lab], seed=0).predict(x[test])
        fair = fit_baseline(name, x[lab], y[lab], seed=0, balanced=True).predict(x[test])
        assert (fair == 1).sum() > (plain == 1).sum(), name
    plain = label_spreading(x, y, lab, test, n_neighbors=10)
    fair = label_spreading(x, y, lab, test, n_neighbors=10, balanced=True)
    assert (fair == 1).sum() > (plain == 1).sum()
