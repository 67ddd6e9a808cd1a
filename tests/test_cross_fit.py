"""Cross-fitted embeddings (issue 27): out-of-fold labelled nodes, grouped parts, the alignment
map, label-blindness, and the bundle serving new clips the run's features."""

from __future__ import annotations

import numpy as np
import pytest

from graham.errors import ParameterError
from graham.evaluate import methods as methods_mod
from graham.evaluate.cross_fit import cross_fit_embeddings, cross_fit_folds, similarity_map
from graham.evaluate.methods import RunData
from graham.evaluate.splits import Split
from graham.nn.gnn import GNNConfig
from graham.presets import GNNTrainConfig

from tiny import tiny_siamese, toy_mels


def test_parts_cover_the_labelled_clips_once_and_never_split_a_group():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 20)
    groups = np.array([f"t{c}-{i // 4}" for c, i in zip(labels, np.arange(60) % 20)])  # tracks of 4 segments
    rng.shuffle(groups)  # groups no longer aligned with positions: the split must still keep them whole
    parts = cross_fit_folds(labels, groups, 3, seed=1)
    assert len(parts) == 3
    assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(60))
    for a in range(3):
        for b in range(a + 1, 3):
            assert not set(groups[parts[a]]) & set(groups[parts[b]])
    assert all(len(set(labels[p])) == 3 for p in parts)  # stratified: every class in every part


def test_too_few_groups_for_k_parts_is_a_clear_error():
    with pytest.raises(ParameterError, match="at least 3 groups"):
        cross_fit_folds(np.array([0, 0, 1, 1]), np.array(["a", "a", "b", "b"]), 3, seed=0)
    with pytest.raises(ParameterError, match="K >= 2"):
        cross_fit_folds(np.array([0, 1]), None, 1, seed=0)


def test_similarity_map_recovers_a_known_rotation_scale_and_shift():
    """Reference: the transform that made ``dst`` (a random orthogonal matrix from a QR
    factorisation, a scale and a shift). A map that forgot the scale, transposed the rotation
    or mixed up the means would not reproduce unseen rows."""
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(16, 16)))
    src = rng.normal(size=(40, 16))
    new = rng.normal(size=(5, 16))
    shift = rng.normal(size=16)
    dst = src @ q * 2.5 + shift
    m = similarity_map(src, dst)
    assert m.scale == pytest.approx(2.5)
    np.testing.assert_allclose(m(new), new @ q * 2.5 + shift, atol=1e-9)


def test_no_labelled_clip_is_embedded_by_a_network_that_trained_on_it():
    """With a stand-in trainer that records what each network fit on: each part is embedded
    only by the network whose fit set excludes it, and the anchors exclude the part."""
    labels = np.repeat(np.arange(2), 12)
    groups = np.repeat(np.arange(8), 3)
    labelled = np.arange(0, 24, 1)[np.arange(24) % 4 != 3]  # every fourth clip unlabelled
    full = np.random.default_rng(0).normal(size=(24, 4))
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def train_and_embed(j, fit, embed):
        seen.append((fit, embed))
        return f"net{j}", full[embed] * 2.0  # a scaled copy: the alignment must undo it exactly

    cf = cross_fit_embeddings(full, labelled, labels, groups, np.arange(24), 3, 0, train_and_embed)
    for (fit, embed), part in zip(seen, cf.parts):
        assert not np.intersect1d(fit, part).size
        assert np.array_equal(np.sort(np.concatenate([fit, part])), labelled)
        assert np.array_equal(embed[:len(part)], part) and not np.intersect1d(embed[len(part):], part).size
    assert cf.fold_of().keys() == set(labelled.tolist())
    np.testing.assert_allclose(cf.embeddings, full, atol=1e-9)  # a pure scaling is mapped back


def test_others_mean_gives_each_unlabelled_clip_the_mean_of_the_part_networks():
    """``others="mean"``: each part network sees the unlabelled clips a little differently (its
    own offset ``delta_j``) through its own similarity transform; the anchors (labelled clips of
    the other parts) recover each transform exactly, so every unlabelled row must be ``full +
    mean_j delta_j`` (the reference, from the definition), every labelled row out of fold as
    before. Rows taken in the wrong order, or one network's map used for another's, would not."""
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(2), 12)
    groups = np.repeat(np.arange(8), 3)
    labelled = np.arange(24)[np.arange(24) % 4 != 3]
    rest = np.setdiff1d(np.arange(24), labelled)
    full = rng.normal(size=(24, 4))
    deltas = []

    def train_and_embed(j, fit, embed):
        q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
        delta = np.zeros_like(full)
        delta[rest] = rng.normal(size=(len(rest), 4))
        deltas.append(delta)
        return f"net{j}", (full + delta)[embed] @ q * (1.5 + j) - j

    cf = cross_fit_embeddings(full, labelled, labels, groups, labelled, 3, 0, train_and_embed, others="mean")
    np.testing.assert_allclose(cf.embeddings[rest], full[rest] + np.mean(deltas, axis=0)[rest], atol=1e-8)
    np.testing.assert_allclose(cf.embeddings[labelled], full[labelled], atol=1e-8)
    main = cross_fit_embeddings(full, labelled, labels, groups, labelled, 3, 0, train_and_embed)
    np.testing.assert_array_equal(main.embeddings[rest], full[rest])  # the default keeps the main network's
    with pytest.raises(ParameterError, match="main, mean"):
        cross_fit_embeddings(full, labelled, labels, groups, labelled, 3, 0, train_and_embed, others="max")


def _data(labels, cross_fit=3, mels=None):
    mels = mels if mels is not None else toy_mels(n_per_class=9, classes=3, n_mels=32, frames=40)[0]
    split = Split(np.arange(0, 27)[np.arange(27) % 3 != 0], np.arange(0, 27, 3), "toy")
    labelled = split.train[::1]
    groups = np.arange(27) // 2  # pairs of clips share a track
    sia = tiny_siamese(epochs=2, lr=3e-3, min_batches=6, cross_fit=cross_fit)
    return RunData(mels, labels, ["a", "b", "c"], split, labelled, sia,
                   GNNConfig(band_statistics=False), GNNTrainConfig(epochs=5), groups=groups)


def test_cross_fitted_run_features_ignore_test_labels_and_come_from_the_right_networks(monkeypatch):
    """Real (tiny) Siamese training: the labelled rows come from networks that never saw those
    clips (checked against the fold lists through what ``train_siamese`` was handed); every
    other row is the main network's; and shuffling the test clips' labels leaves every feature
    bit-identical (no test label is read)."""
    mels, labels = toy_mels(n_per_class=9, classes=3, n_mels=32, frames=40)
    handed: list[set[int]] = []
    real = methods_mod.train_siamese

    def recording(train_mels, *a, **kw):
        handed.append({id(m) for m in train_mels})
        return real(train_mels, *a, **kw)

    monkeypatch.setattr(methods_mod, "train_siamese", recording)
    d = _data(labels, mels=mels)
    emb = d.embeddings
    cf = d.cross_fit
    assert cf is not None and len(cf.parts) == 3 and len(handed) == 4  # the main network, then one per part
    for part, fit_ids in zip(cf.parts, handed[1:]):
        assert not fit_ids & {id(mels[i]) for i in part}
        assert all(d.groups[i] not in {d.groups[j] for j in part} for i in np.setdiff1d(d.labelled, part))
    others = np.setdiff1d(np.arange(len(mels)), d.labelled)
    assert np.array_equal(emb[others], d.full_embeddings[others])
    gap = np.linalg.norm(emb[d.labelled] - d.full_embeddings[d.labelled]) / np.linalg.norm(emb[d.labelled])
    assert gap > 1e-3, gap  # exactly 0 were the rows not replaced

    shuffled = labels.copy()
    test = d.split.test
    shuffled[test] = np.roll(labels[test], 1)
    assert (shuffled[test] != labels[test]).any()
    monkeypatch.setattr(methods_mod, "train_siamese", real)
    again = _data(shuffled, mels=mels)
    assert np.array_equal(again.embeddings, emb)


def test_cross_fit_setting_is_checked():
    with pytest.raises(ParameterError, match="cross_fit"):
        tiny_siamese(cross_fit=1)


def test_a_cross_fitted_bundle_serves_new_clips_the_runs_features(tmp_path):
    """``graham train --cross-fit``: the bundle's reference nodes are the run's (cross-fitted)
    node features, and a test clip embedded by the bundle gets the run's test-node embedding."""
    from graham.inference.bundle import load_bundle
    from graham.workflows.requests import DataSource
    from graham.workflows.train import train_model

    from tiny import settings

    source = DataSource("synthetic:4x3", cache=tmp_path / "features")
    o = train_model(source, tmp_path / "run", settings(tiny_siamese(epochs=2, lr=3e-3, min_batches=6, cross_fit=2),
                                                       gnn_epochs=5), progress=False, methods=("grahams_gnn",))
    b = load_bundle(tmp_path / "run" / "bundle")
    assert b.siamese_config.cross_fit == 2
    np.testing.assert_array_equal(b.reference, o.embeddings[o.train_idx].astype(b.reference.dtype))
    assert "cross_fit_s" in o.timings
    clf = o.classifier  # the bundle as saved, loaded
    from graham.workflows.features import extract_features

    fr = extract_features(source, progress=False)

    def served(i):
        return clf.window_embeddings(np.asarray(fr.features.mels[i]))[0].mean(0)

    for t in o.test_idx[:3]:
        np.testing.assert_allclose(served(t), o.embeddings[t], rtol=1e-4, atol=1e-5)
    # a labelled training clip's reference node is out of fold, not what the main network makes of it
    first = int(o.labelled_idx[0])
    row = int(np.searchsorted(o.train_idx, first))
    gap = np.linalg.norm(served(first) - b.reference[row]) / np.linalg.norm(served(first))
    assert gap > 1e-3, gap  # exactly 0 were the rows not replaced


def test_train_refuses_a_bundle_whose_nodes_it_could_not_serve(tmp_path):
    """A bundle embeds new clips with the main network, so ``cross_fit_others="mean"`` (test
    nodes from the part networks) would train the GNN on features the bundle never serves."""
    from graham.presets import siamese_config
    from graham.workflows.requests import DataSource
    from graham.workflows.train import train_model

    from tiny import settings

    with pytest.raises(ParameterError, match="cross_fit_others"):
        train_model(DataSource("synthetic:2x2"), tmp_path,
                    settings(siamese_config("cpu", cross_fit=2, cross_fit_others="mean")), progress=False)
    assert not any(tmp_path.iterdir())  # refused before any work
