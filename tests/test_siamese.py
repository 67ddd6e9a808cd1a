import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from graham.nn import PRESETS, SiameseNet, Xception, pair_features
from graham.presets import SiameseConfig
from graham.train.embed import embed_clips
from graham.train.pairs import ClassBalancedBatchSampler, pair_counts, sample_pairs
from graham.train.siamese import load_siamese, train_siamese
from graham.utils.tensorfile import load_checkpoint

from tiny import TINY, tiny_siamese, toy_mels


@pytest.mark.parametrize("frames", [32, 65, 130, 431])
def test_cpu_backbone_embeds_any_length(frames):
    m = Xception(PRESETS["cpu"]).eval()
    with torch.no_grad():
        assert m(torch.randn(3, 128, frames)).shape == (3, 128)
        assert m.features(torch.randn(2, 1, 128, frames)).shape[:2] == (2, 128)


def test_paper_preset_final_map_is_6x6x128_for_192x192():
    m = Xception(PRESETS["paper"]).eval()
    with torch.no_grad():
        assert m.features(torch.randn(1, 1, 192, 192)).shape == (1, 128, 6, 6)
    assert sum(p.numel() for p in m.parameters()) > 15_000_000  # Xception's size, not a toy


@pytest.mark.parametrize("cin", [8, 24])
@pytest.mark.parametrize("hw", [(16, 24), (15, 23)])
def test_strided_shortcut_is_a_strided_1x1_convolution(cin, hw):
    """Both paths of the shortcut (every s-th pixel for narrow layers, oneDNN's strided kernel for
    wide ones) give torch's strided convolution, forward and backward, in channels-last."""
    from torch.nn import functional as F

    from graham.nn.xception import StridedPointwise

    torch.manual_seed(0)
    m = StridedPointwise(cin, 2 * cin, 2).to(memory_format=torch.channels_last)
    x = torch.randn(3, cin, *hw, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    m = m.double()
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    w = m.weight.detach().clone().requires_grad_()
    m(x1).square().sum().backward()
    F.conv2d(x2.contiguous(), w, stride=2).square().sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad)
    torch.testing.assert_close(m.weight.grad, w.grad)


def test_pair_features_are_eq_1_and_2():
    fi, fj = torch.randn(5, 16), torch.randn(5, 16)
    x = pair_features(fi, fj)
    torch.testing.assert_close(x[:, :16], fi)
    torch.testing.assert_close(x[:, 16:32], fj)
    torch.testing.assert_close(x[:, 32:48], (fi - fj) ** 2)
    torch.testing.assert_close(x[:, 48:], fi * fj)
    assert not torch.allclose(pair_features(fi, fj)[:, :32], pair_features(fj, fi)[:, :32])


def test_eq6_counts_and_balanced_sampler_over_an_epoch():
    assert pair_counts(10, 4) == (45, 6, 15)
    labels = np.repeat(np.arange(10), 21)
    sampler = ClassBalancedBatchSampler(labels, classes_per_batch=8, per_class=4, seed=3)
    rng = np.random.default_rng(0)
    pos = total = 0
    seen = set()
    for batch in sampler:
        assert len(batch) == 32 and len(np.unique(labels[batch])) == 8
        i, j, y = sample_pairs(labels[batch], rng, clip_ids=batch)
        assert (i < j).all() and len(y) > 0
        pos, total = pos + y.sum(), total + len(y)
        seen |= set(batch.tolist())
    assert abs(pos / total - 0.5) <= 0.05
    assert len(seen) > 0.8 * len(labels)


def test_sampler_state_round_trip():
    labels = np.repeat(np.arange(5), 7)
    a = ClassBalancedBatchSampler(labels, classes_per_batch=3, per_class=2, seed=1)
    list(a)
    b = ClassBalancedBatchSampler(labels, classes_per_batch=3, per_class=2, seed=99)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    assert [x.tolist() for x in a] == [x.tolist() for x in b]


def test_backbone_runs_once_per_clip_per_step():
    mels, labels = toy_mels()
    calls = []
    orig = Xception.forward

    def counting(self, x):
        calls.append(x.shape[0])
        return orig(self, x)

    Xception.forward = counting
    try:
        train_siamese(mels, labels, tiny_siamese(epochs=1), progress=False)
    finally:
        Xception.forward = orig
    batch = 4 * 3
    assert calls and all(c == batch for c in calls)  # one pass of the batch, not one per pair side
    assert len(calls) == -(-len(labels) // batch)


def test_training_separates_toy_classes_and_embeds_whole_clips(tmp_path):
    mels, labels = toy_mels(n_per_class=10)
    res = train_siamese(mels, labels, tiny_siamese(epochs=6, val_fraction=0.2, lr=2e-3), out=tmp_path, progress=False)
    assert res.history[-1]["positive_ratio"] == pytest.approx(0.5, abs=0.05)
    assert "val_auc" in res.history[-1]
    assert (tmp_path / "best.safetensors").exists() and (tmp_path / "last.safetensors").exists()
    emb = embed_clips(res.model, mels, crop_frames=32)
    assert emb.shape == (40, 16)
    from sklearn.neighbors import KNeighborsClassifier
    acc = KNeighborsClassifier(5).fit(emb[::2], labels[::2]).score(emb[1::2], labels[1::2])
    assert acc >= 0.6  # chance: 0.25
    again = load_siamese(tmp_path / "best.safetensors").to(next(res.model.parameters()).device)  # same kernels
    np.testing.assert_allclose(embed_clips(again, mels[:3], crop_frames=32), emb[:3], atol=1e-5)


_SCRIPT = """
import sys, time, numpy as np, torch
sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from tiny import tiny_siamese, toy_mels
from graham.train.siamese import train_siamese
mels, labels = toy_mels()
cfg = tiny_siamese(epochs=6, seed=5)
import graham.train.siamese as ts
orig = ts.save_checkpoint
def slow_save(*a, **k):
    orig(*a, **k)
    time.sleep({sleep})
ts.save_checkpoint = slow_save
train_siamese(mels, labels, cfg, out={out!r}, resume=True, progress=False)
print("finished")
"""


def _run(out: Path, sleep: float):
    code = _SCRIPT.format(tests=str(Path(__file__).parent), out=str(out), sleep=sleep)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_resume_after_a_kill_ends_with_the_same_weights(tmp_path):
    full = _run(tmp_path / "full", 0.0)
    assert full.wait(timeout=240) == 0
    killed = _run(tmp_path / "killed", 1.0)
    last = tmp_path / "killed" / "last.safetensors"
    deadline = time.time() + 120
    while time.time() < deadline:
        if last.exists() and load_checkpoint(last)[1].get("epoch", -1) >= 1:
            break
        time.sleep(0.1)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=30)
    epoch_at_kill = load_checkpoint(last)[1]["epoch"]
    assert 1 <= epoch_at_kill < 5  # really killed mid-way
    resumed = _run(tmp_path / "killed", 0.0)
    out, err = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, err.decode()[-2000:]
    a, meta_a = load_checkpoint(tmp_path / "full" / "last.safetensors")
    b, meta_b = load_checkpoint(last)
    assert meta_a["epoch"] == meta_b["epoch"] == 5
    for k in a:
        if k.startswith("model/"):
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert meta_a["history"] == meta_b["history"]


def test_resume_refuses_other_settings(tmp_path):
    mels, labels = toy_mels()
    train_siamese(mels, labels, tiny_siamese(epochs=1), out=tmp_path, progress=False)
    from graham.errors import ParameterError
    with pytest.raises(ParameterError, match=r"other settings \(lr: 0.0003 -> 0.01\)"):
        train_siamese(mels, labels, tiny_siamese(epochs=1, lr=1e-2), out=tmp_path, resume=True, progress=False)


@pytest.mark.parametrize("contrastive", [0.0, 1.0])
def test_resume_extends_a_finished_run_as_if_it_had_run_longer(tmp_path, contrastive):
    """A finished run resumed with more epochs goes on where it stopped and ends where a longer
    run from the start ends (with the contrastive loss too: its projection is resumed, not
    started afresh); fewer epochs than it trained is refused, saying how many."""
    from graham.errors import ParameterError
    from graham.utils.tensorfile import load_checkpoint

    mels, labels = toy_mels()
    extra = toy_mels(n_per_class=2, seed=3)[0]
    kw = dict(progress=False, unlabelled=extra)
    train_siamese(mels, labels, tiny_siamese(epochs=1, contrastive=contrastive), out=tmp_path / "a", **kw)
    train_siamese(mels, labels, tiny_siamese(epochs=3, contrastive=contrastive), out=tmp_path / "a", resume=True, **kw)
    train_siamese(mels, labels, tiny_siamese(epochs=3, contrastive=contrastive), out=tmp_path / "b", **kw)
    a, meta_a = load_checkpoint(tmp_path / "a" / "last.safetensors")
    b, meta_b = load_checkpoint(tmp_path / "b" / "last.safetensors")
    assert meta_a["epoch"] == meta_b["epoch"] == 2 and len(meta_a["history"]) == 3
    for k in b:
        if k.startswith("model/"):
            torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert any(k.startswith("proj/") for k in a) == bool(contrastive)
    with pytest.raises(ParameterError, match="trained 3 epochs already; to resume, give --epochs 3 or more"):
        train_siamese(mels, labels, tiny_siamese(epochs=2, contrastive=contrastive), out=tmp_path / "a", resume=True,
                      **kw)


def test_refit_trains_every_clip_for_the_epochs_validation_chose():
    """``refit``: the validated run picks the epoch; the returned network is, bit for bit, a run
    on every clip (no validation) for that many epochs from the same seed. Fails if the refit
    keeps the held-out clips out, trains the wrong number of epochs or returns the first run."""
    mels, labels = toy_mels(n_per_class=6)
    kw = dict(epochs=4, val_fraction=0.25, lr=2e-3, seed=3)
    chosen = train_siamese(mels, labels, tiny_siamese(**kw), progress=False)
    refit = train_siamese(mels, labels, tiny_siamese(**kw, refit=True), progress=False)
    assert refit.best_epoch == chosen.best_epoch >= 0
    assert sum(bool(r.get("refit")) for r in refit.history) == chosen.best_epoch + 1
    every = train_siamese(mels, labels, tiny_siamese(**{**kw, "val_fraction": 0.0, "epochs": chosen.best_epoch + 1}),
                          progress=False)
    for (name, a), b in zip(refit.model.state_dict().items(), every.model.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)
    assert any(not torch.equal(a, c) for a, c in zip(refit.model.state_dict().values(),
                                                     chosen.model.state_dict().values()))


def test_nt_xent_is_simclrs_loss_written_as_a_loop():
    """Against the formula of SimCLR (Chen et al. 2020, eq. 1) written per row: catches a wrong
    partner, the row itself left in the denominator, or similarities not taken on unit vectors."""
    import math

    from graham.train.siamese import nt_xent

    z = torch.randn(10, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    t, n = 0.3, len(z)
    unit = [v / math.sqrt(float(v @ v)) for v in z]
    total = 0.0
    for i in range(n):
        partner = (i + n // 2) % n
        den = sum(math.exp(float(unit[i] @ unit[k]) / t) for k in range(n) if k != i)
        total -= math.log(math.exp(float(unit[i] @ unit[partner]) / t) / den)
    assert float(nt_xent(z, t)) == pytest.approx(total / n, rel=1e-9)
    assert float(nt_xent(3 * z, t)) == pytest.approx(total / n, rel=1e-9)  # cosine: the scale is invisible


def test_the_contrastive_loss_draws_labelled_and_unlabelled_clips_and_reads_no_label(monkeypatch):
    """With ``contrastive`` > 0 every step embeds two crops of ``contrastive_clips`` clips beside
    the labelled batch, drawn from the labelled training clips and the unlabelled ones, never
    from the validation clips; with it off the unlabelled clips change nothing."""
    from graham.train.crops import MelCrops

    mels, labels = toy_mels(n_per_class=5)
    extra = toy_mels(n_per_class=3, seed=1)[0]
    drawn, passes = [], []
    real_random, real_forward = MelCrops.random, Xception.forward
    monkeypatch.setattr(MelCrops, "random", lambda self, idx, rng: (drawn.extend(int(i) for i in idx),
                                                                     real_random(self, idx, rng))[1])
    monkeypatch.setattr(Xception, "forward", lambda self, x: (passes.append(len(x)), real_forward(self, x))[1])
    cfg = tiny_siamese(epochs=2, contrastive=1.0, contrastive_clips=20, val_fraction=0.2)
    res = train_siamese(mels, labels, cfg, unlabelled=extra, progress=False)
    n, held_out = len(mels), {i for i in range(len(mels))} - set(drawn)  # the validation clips are never cropped
    assert len(held_out) == 4  # 20 % of 20 clips, stratified
    assert any(i >= n for i in drawn) and max(drawn) < n + len(extra)
    assert {i for i in drawn if i >= n} == set(range(n, n + len(extra)))  # every unlabelled clip, in 2 epochs
    assert passes.count(4 * 3 + 2 * 20) == 2 * 2 and 4 * 3 not in passes  # one pass: the batch and both views
    assert not any(k.startswith("proj") for k in res.model.state_dict())  # the projection is dropped

    plain = tiny_siamese(epochs=1)
    a = train_siamese(mels, labels, plain, unlabelled=extra, progress=False).model.state_dict()
    b = train_siamese(mels, labels, plain, progress=False).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_config_presets_and_round_trip():
    from graham.presets import siamese_config

    cfg = siamese_config("paper")
    assert cfg.backbone == PRESETS["paper"] and cfg.epochs == 20 and cfg.classes_per_batch * cfg.per_class == 64
    assert cfg.contrastive == 0 and cfg.identification == 0  # the paper's pair loss alone
    from graham.errors import ParameterError
    for bad in ({"contrastive": -1}, {"contrastive_clips": 1}, {"temperature": 0}):
        with pytest.raises(ParameterError, match="contrastive"):
            siamese_config("cpu", **bad)
    assert SiameseConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert SiameseNet(TINY).embedding_dim == 16


def test_embeddings_are_the_mean_over_windows_whatever_the_batch():
    from graham.nn.siamese import SiameseNet
    from graham.train.crops import MelCrops

    torch.manual_seed(0)
    mels, _ = toy_mels(n_per_class=2)
    model = SiameseNet(TINY, head_hidden=8).eval()
    with torch.no_grad():
        ref = np.stack([model.embed(MelCrops(mels, 32).windows(i, 16)).mean(0).numpy() for i in range(len(mels))])
    for bs in (1, 7, 64):
        np.testing.assert_allclose(embed_clips(model, mels, crop_frames=32, batch_size=bs), ref, atol=1e-5)


def test_training_leaves_the_callers_random_state_alone():
    """Training seeds torch's global generator for its own run; a user's seeding survives the
    call (before, what they drew next came from the run's seed), and the run is as seeded."""
    from graham.presets import GNNTrainConfig
    from graham.train.gnn import train_gnn
    from graham.train.supervised import train_supervised_cnn

    mels, labels = toy_mels(n_per_class=3)
    x = np.random.default_rng(0).normal(size=(len(labels), 8)).astype(np.float32)
    runs = [lambda: train_siamese(mels, labels, tiny_siamese(epochs=1), progress=False),
            lambda: train_supervised_cnn(mels, labels, 4, tiny_siamese(epochs=1)),
            lambda: train_gnn(x, labels, np.arange(len(labels)), 4, train=GNNTrainConfig(epochs=3))]
    for run in runs:
        torch.manual_seed(1234)
        expected = torch.rand(3)
        torch.manual_seed(1234)
        first = run()
        assert torch.equal(torch.rand(3), expected)
        torch.manual_seed(99)  # another caller state: the run itself does not change
        second = run()
        model_a = first.model
        model_b = second.model
        for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_grouped_validation_never_puts_a_group_on_both_sides():
    """Issue 27: with groups of several clips (segments of one track), the validation clips
    that choose the epoch are whole groups; every class keeps training clips; without groups
    (or every clip its own group) the stratified random split stays; and a corpus whose groups
    cannot give a fold with every class left in training holds nothing out, rather than split
    a group."""
    from graham.train.validation import split_validation

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 15)
    groups = np.array([f"{c}-t{i // 3}" for c, i in zip(labels, np.tile(np.arange(15), 4))])  # 5 tracks x 3
    for seed in range(10):
        perm = rng.permutation(len(labels))
        y, g = labels[perm], groups[perm]
        tr, va = split_validation(y, 0.15, seed, g)
        assert len(va) > 0 and not set(g[tr]) & set(g[va])
        assert set(y[tr]) == set(range(4)) and sorted(np.concatenate([tr, va]).tolist()) == list(range(60))
    plain = split_validation(labels, 0.15, 0)
    assert plain[1].tolist() == split_validation(labels, 0.15, 0, [f"c{i}" for i in range(60)])[1].tolist()
    assert set(groups[plain[0]]) & set(groups[plain[1]])  # the random split does cut groups: why the groups
    one_track = np.array([f"{c}-only" for c in labels])  # one group per class: no fold keeps every class
    tr, va = split_validation(labels, 0.15, 0, one_track)
    assert len(va) == 0 and len(tr) == 60


def test_the_run_hands_the_labelled_clips_groups_to_both_trainings(monkeypatch):
    """With ``grouped_validation``, RunData passes the labelled clips' own groups (in their
    order) to the Siamese network's and the supervised CNN's validation splits."""
    import graham.train.siamese as siamese
    import graham.train.supervised as supervised
    from graham.evaluate.methods import METHODS, RunData
    from graham.evaluate.splits import Split
    from graham.nn.gnn import GNNConfig
    from graham.presets import GNNTrainConfig

    from tiny import tiny_siamese, toy_mels

    seen = []
    real = siamese.split_validation

    def spy(labels, fraction, seed, groups=None):
        seen.append(None if groups is None else list(groups))
        return real(labels, fraction, seed, groups)

    monkeypatch.setattr(siamese, "split_validation", spy)
    monkeypatch.setattr(supervised, "split_validation", spy)
    mels, labels = toy_mels(n_per_class=6, classes=2)
    groups = np.array([f"g{i // 2}" for i in range(len(labels))])
    split = Split(np.array([0, 1, 2, 3, 4, 6, 7, 8, 9, 10]), np.array([5, 11]), "t")
    labelled = np.array([0, 1, 2, 3, 6, 7, 8, 9])
    for grouped in (True, False):  # off (the default): the splits get no groups
        seen.clear()
        d = RunData(mels, labels, ["a", "b"], split, labelled,
                    tiny_siamese(epochs=1, val_fraction=0.25, grouped_validation=grouped), GNNConfig(),
                    GNNTrainConfig(epochs=5), groups=groups)
        METHODS["supervised_cnn"].run(d)
        _ = d.siamese
        assert seen == [list(groups[labelled]) if grouped else None] * 2


def test_validation_can_embed_whole_clips_as_the_graph_does():
    """``validation_embedding="clip"`` scores the epoch on the mean over each clip's windows.
    Clips whose middle crop is the same in both classes, and whose class shows only before and
    after it: the middle crop can tell nothing (every clip lands on one centroid), the whole
    clip tells all. Fails if the setting is ignored or the windows miss the clip's ends; and
    the clip embedding is checked against the windows embedded one by one."""
    from graham.errors import ParameterError
    from graham.train.crops import MelCrops
    from graham.train.validation import validate as _validate

    frames, n = 32, 160
    mels, labels = [], []
    for c in (0, 1):
        for _ in range(4):
            m = np.full((32, n), -40.0, dtype=np.float32)
            m[4 + 20 * c:8 + 20 * c, :48] += 30  # the class before the middle ...
            m[4 + 20 * c:8 + 20 * c, -48:] += 30  # ... and after it; the middle 64 frames alike
            mels.append(m)
            labels.append(c)
    labels = np.array(labels)
    torch.manual_seed(0)
    model = SiameseNet(TINY, head_hidden=16).eval()
    crops = MelCrops(mels, frames)
    val, ref = np.array([0, 4]), np.array([1, 2, 3, 5, 6, 7])
    centre = _validate(model, crops, val, ref, labels, "cpu", 0, "centre")
    clip = _validate(model, crops, val, ref, labels, "cpu", 0, "clip")
    assert centre["val_centroid_acc"] == 0.5 and clip["val_centroid_acc"] == 1.0
    with torch.no_grad():  # the clip embedding: its windows end to end, the last flush with the end
        starts = list(range(0, n - frames + 1, frames))
        windows = torch.stack([torch.from_numpy(mels[0][:, s:s + frames]) for s in starts])
        expected = model.embed(windows).mean(0).numpy()
    got = embed_clips(model, [mels[0]], crop_frames=frames, hop=frames)[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ParameterError, match="validation_embedding"):
        tiny_siamese(validation_embedding="windows")
