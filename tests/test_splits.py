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


def test_auto_picks_grouped_splits_where_groups_hold_several_clips():
    """Which wrong choice it catches: a default that stays random on grouped data, a grouped
    default on data without groups, and ``paper`` not being the random split."""
    from graham.evaluate.splits import choose_protocol

    assert choose_protocol(None, GROUPS)[0] == "grouped" and choose_protocol("auto", GROUPS)[0] == "grouped"
    assert choose_protocol("auto", GROUPS, grouped="kfold")[0] == "kfold"
    assert "25 groups" in choose_protocol("auto", GROUPS)[1]
    singles = [f"c{i}" for i in range(100)]
    assert choose_protocol("auto", singles)[0] == "random" and choose_protocol("auto", None)[0] == "random"
    assert choose_protocol("paper", GROUPS) == ("random", "the paper's random split of clips, as asked "
                                                          "(--protocol paper)")
    assert choose_protocol("given", GROUPS)[0] == "given"
    with pytest.raises(ParameterError, match="auto, paper, random"):
        choose_protocol("loo", GROUPS)


def test_groups_cut_is_a_brute_force_count_and_the_note_says_it():
    from graham.evaluate.splits import groups_cut, leakage_note

    for seed in range(5):
        s = random_split(LABELS, seed=seed)
        brute = 0
        for g in set(GROUPS.tolist()):
            in_train = any(GROUPS[i] == g for i in s.train)
            in_test = any(GROUPS[i] == g for i in s.test)
            brute += in_train and in_test
        assert groups_cut(s, GROUPS) == brute > 0
        assert f"clips of {brute} of the 25 groups of several clips on both sides" in leakage_note(s, GROUPS)
    assert leakage_note(grouped_split(LABELS, GROUPS, seed=0), GROUPS) is None  # a grouped split cuts none
    folds = kfold_splits(LABELS, k=5, seed=0)  # plain folds of grouped data: a range over the splits
    cuts = [groups_cut(f, GROUPS) for f in folds]
    assert f"{min(cuts)}-{max(cuts)} (mean {np.mean(cuts):.1f})" in leakage_note(folds, GROUPS)


def test_the_expected_cut_matches_a_simulation():
    """1 - (1-t)^n - t^n per group, against clips sent to the test side at random."""
    from graham.evaluate.splits import expected_groups_cut

    groups = np.repeat(np.arange(6), [1, 2, 3, 5, 8, 1])
    rng = np.random.default_rng(0)
    draws = rng.random((20000, len(groups))) < 0.3
    cut = [len(set(groups[d])) + len(set(groups[~d])) - len(set(groups)) for d in draws]
    assert abs(np.mean(cut) - expected_groups_cut(groups, 0.3)) < 0.03
