import numpy as np
import pytest

from graham.errors import ParameterError
from graham.evaluate.splits import given_split, grouped_split, kfold_splits, labelled_subset, make_splits, random_split

LABELS = np.repeat(np.arange(5), 20)
GROUPS = np.array([f"g{i // 4}" for i in range(100)])  # groups of 4 clips, one label each


def test_random_split_is_stratified_disjoint_and_seeded():
    s = random_split(LABELS, seed=1)
    assert len(np.intersect1d(s.train, s.test)) == 0 and len(s.train) + len(s.test) == 100
    assert np.bincount(LABELS[s.test]).tolist() == [6] * 5
    np.testing.assert_array_equal(random_split(LABELS, seed=1).test, s.test)
    assert not np.array_equal(random_split(LABELS, seed=2).test, s.test)


def test_grouped_split_never_shares_a_group():
    s = grouped_split(LABELS, GROUPS, seed=0)
    assert not set(GROUPS[s.train]) & set(GROUPS[s.test])
    assert 0.2 <= len(s.test) / 100 <= 0.45 and len(np.unique(LABELS[s.test])) == 5
    with pytest.raises(ParameterError):
        grouped_split(LABELS, np.zeros(100), seed=0)


def test_kfold_covers_every_clip_once():
    folds = kfold_splits(LABELS, k=5, seed=0)
    tests = np.concatenate([f.test for f in folds])
    assert sorted(tests.tolist()) == list(range(100))
    for f in kfold_splits(LABELS, k=4, seed=0, groups=GROUPS):
        assert not set(GROUPS[f.train]) & set(GROUPS[f.test])


def test_given_split_and_protocol_names():
    names = ["train"] * 50 + ["valid"] * 20 + ["test"] * 25 + [None] * 5
    s = given_split(names)
    assert len(s.train) == 70 and len(s.test) == 25
    assert make_splits("random", LABELS)[0].name.startswith("random stratified 70%:30%")
    with pytest.raises(ParameterError):
        make_splits("bootstrap", LABELS)


def test_labelled_fractions_are_sized_stratified_and_nested():
    s = random_split(LABELS, seed=0)
    sets = {f: labelled_subset(s.train, LABELS, f, seed=0) for f in (0.3, 0.5, 1.0)}
    assert [len(sets[f]) for f in (0.3, 0.5, 1.0)] == [20, 35, 70]
    assert set(sets[0.3]) <= set(sets[0.5]) <= set(sets[1.0]) == set(s.train)
    assert np.bincount(LABELS[sets[0.3]]).tolist() == [4] * 5
    np.testing.assert_array_equal(labelled_subset(s.train, LABELS, 0.3, seed=0), sets[0.3])
    with pytest.raises(ParameterError):
        labelled_subset(s.train, LABELS, 0.0)


def test_a_class_with_one_clip_is_named():
    from graham.errors import ParameterError

    labels = [0, 0, 0, 1, 2, 2, 2]
    with pytest.raises(ParameterError, match=r"1 class\(es\) have one: rock \(1 clip\)"):
        make_splits("random", labels, names=["jazz", "rock", "pop"])
    with pytest.raises(ParameterError, match=r"have one: 1 \(1 clip\)"):  # without names: the label
        make_splits("random", labels)
