"""Labelling less: the batch ranking, the labels file, graham suggest and its page, graham extend."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from typer.testing import CliRunner

from graham.cli import app
from graham.errors import DatasetError, ParameterError
from graham.labelling.labels_file import labels_csv, read_labels
from graham.labelling.select import STRATEGIES, select_batch
from graham.workflows.requests import DataSource

from tiny import tone, write


def _pool(n=60, groups_of=3, seed=0):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, 8))
    proba = rng.dirichlet(np.ones(4), size=n)
    groups = [f"g{i // groups_of}" for i in range(n)]
    return emb, proba, groups


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_a_batch_never_holds_a_labelled_clip_and_keeps_the_group_cap(strategy):
    emb, proba, groups = _pool()
    labelled = np.arange(0, 60, 7)
    picks = select_batch(emb, proba, labelled, np.arange(60), 15, groups=groups, per_group=1, strategy=strategy)
    idx = [p.index for p in picks]
    assert len(idx) == 15 and len(set(idx)) == 15
    assert not set(idx) & set(labelled.tolist())
    assert len({groups[i] for i in idx}) == 15  # one clip a group at most
    picks2 = select_batch(emb, proba, labelled, np.arange(60), 20, groups=groups, per_group=2, strategy=strategy)
    counts = np.unique([groups[p.index] for p in picks2], return_counts=True)[1]
    assert counts.max() <= 2


def test_margin_and_cover_pick_what_their_definitions_say():
    """Against a dense loop written from the definitions: margin takes the smallest top-2
    margins in order; cover (k-center greedy) takes, each time, the clip farthest (cosine, centred)
    from every labelled and picked clip."""
    emb, proba, _ = _pool(40)
    labelled = np.array([0, 1, 2])
    srt = np.sort(proba, axis=1)
    margin = srt[:, -1] - srt[:, -2]
    pool = np.arange(3, 40)
    want = pool[np.argsort(margin[pool], kind="stable")][:6].tolist()
    assert [p.index for p in select_batch(emb, proba, labelled, np.arange(40), 6, strategy="margin")] == want
    z = emb - emb.mean(0)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    chosen, got = list(labelled), []
    for _ in range(6):
        best, far = None, -1.0
        for i in pool:
            if i in chosen:
                continue
            d = min(1 - float(z[i] @ z[j]) for j in chosen)
            if d > far + 1e-12:
                best, far = i, d
        chosen.append(best)
        got.append(best)
    assert [p.index for p in select_batch(emb, proba, labelled, np.arange(40), 6, strategy="cover")] == got


def test_typical_takes_the_medoid_of_each_unlabelled_cluster_largest_first():
    """TypiClust on four blobs (sizes 30, 20, 15, 10; the first holds the labelled clip): three
    picks, the medoids (densest clips) of the other blobs, largest blob first. k-center would
    take each blob's rim; margin (all equal here) the lowest indices."""
    rng = np.random.default_rng(5)
    sizes = (30, 20, 15, 10)
    emb = np.concatenate([c + rng.normal(0, 0.6, (n, 8)) for c, n in zip(np.eye(8)[:4] * 10, sizes)])
    blob = np.concatenate([np.full(n, b) for b, n in enumerate(sizes)])
    proba = np.full((len(emb), 2), 0.5)
    picks = select_batch(emb, proba, np.array([0]), np.arange(len(emb)), 3, strategy="typical")
    assert [blob[p.index] for p in picks] == [1, 2, 3]
    z = emb - emb.mean(0)  # the strategy's space: cosine distances between centred embeddings
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    for p in picks:
        members = np.flatnonzero(blob == blob[p.index])
        mean_dist = [np.mean([1 - z[i] @ z[j] for j in members if j != i]) for i in members]
        assert p.index == members[int(np.argmin(mean_dist))]  # each blob < 21 clips: typicality is the medoid's


def test_typical_doubt_ranks_the_clusters_by_summed_doubt_not_size():
    """The same four blobs, the graph certain in the blob of 20, half sure in the blob of 15
    (summed doubt 7.5) and unsure in the blob of 10 (10): ``typical-doubt`` visits them in the
    order 10, 15, 20 (``typical``: by size), each time taking the blob's medoid. A version that
    ranked by size, by mean doubt alone or by margin instead of 1 - margin orders them otherwise."""
    rng = np.random.default_rng(5)
    sizes = (30, 20, 15, 10)
    emb = np.concatenate([c + rng.normal(0, 0.6, (n, 8)) for c, n in zip(np.eye(8)[:4] * 10, sizes)])
    blob = np.concatenate([np.full(n, b) for b, n in enumerate(sizes)])
    p_top = np.array([1.0, 1.0, 0.75, 0.5])[blob]  # margins 1, 1, 0.5, 0: doubts 0, 0, 0.5, 1
    proba = np.stack([p_top, 1.0 - p_top], axis=1)
    picks = select_batch(emb, proba, np.array([0]), np.arange(len(emb)), 3, strategy="typical-doubt")
    assert [blob[p.index] for p in picks] == [3, 2, 1]
    size_order = select_batch(emb, proba, np.array([0]), np.arange(len(emb)), 3, strategy="typical")
    assert sorted(p.index for p in picks) == sorted(p.index for p in size_order)  # the same medoids, another order


def test_new_groups_come_first_then_the_group_cap():
    """Against a loop written from the rule: while an open pool clip's group has no labelled or
    picked clip, only such clips compete (here by margin); then every open clip under the cap.
    A version that forgot the labelled groups, or this batch's own picks, picks otherwise."""
    emb, proba, groups = _pool(30, groups_of=3)  # groups g0..g9
    labelled = np.array([0, 3, 6])  # g0, g1, g2 are known
    srt = np.sort(proba, axis=1)
    margin = srt[:, -1] - srt[:, -2]
    seen, count, want = {groups[i] for i in labelled}, {}, []
    for _ in range(12):
        open_ = [i for i in range(30) if i not in labelled and i not in want and count.get(groups[i], 0) < 2]
        new = [i for i in open_ if groups[i] not in seen]
        cands = new or open_
        i = min(cands, key=lambda j: (margin[j], j))
        want.append(i)
        seen.add(groups[i])
        count[groups[i]] = count.get(groups[i], 0) + 1
    got = select_batch(emb, proba, labelled, np.arange(30), 12, groups=groups, strategy="margin")
    assert [p.index for p in got] == want
    assert len({groups[i] for i in want[:7]} - {"g0", "g1", "g2"}) == 7  # the seven new groups first
    for strategy in ("typical", "uncertain-cover", "cover"):
        gs = [groups[p.index] for p in select_batch(emb, proba, labelled, np.arange(30), 9, groups=groups,
                                                    strategy=strategy)]
        assert len(set(gs[:7]) - {"g0", "g1", "g2"}) == 7, strategy
    off = select_batch(emb, proba, labelled, np.arange(30), 12, groups=groups, strategy="margin",
                       new_groups_first=False)
    assert [p.index for p in off] != want  # the rule changes something here, so the test can tell
    rand = [select_batch(emb, proba, labelled, np.arange(30), 12, groups=groups, strategy="random", seed=3,
                         new_groups_first=flag) for flag in (True, False)]
    assert [p.index for p in rand[0]] == [p.index for p in rand[1]]  # the reference stays uniform


def test_a_budget_larger_than_the_pool_is_one_clear_error():
    emb, proba, _ = _pool(10)
    with pytest.raises(ParameterError, match="larger than the unlabelled pool"):
        select_batch(emb, proba, np.arange(5), np.arange(10), 6)


def test_labels_file_round_trip_and_its_errors(tmp_path):
    labels = {"rock/a": "rock", 'odd, "name"': "jazz"}
    path = tmp_path / "labels.csv"
    path.write_text(labels_csv(labels))
    assert read_labels(path, ["rock/a", 'odd, "name"', "x"]) == labels
    with pytest.raises(DatasetError, match="not in the data set.*'rock/a'"):
        read_labels(path, ["x"])
    path.write_text("clip_id,label\nrock/a,\n")
    with pytest.raises(DatasetError, match="has no label"):
        read_labels(path)
    path.write_text("clip_id,label\nrock/a,rock\nrock/a,jazz\n")
    with pytest.raises(DatasetError, match="both"):
        read_labels(path)


# -- extend -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def new_genre(tmp_path_factory):
    """Five files of a genre the trained bundle never saw: pure tones with a tremolo."""
    base = tmp_path_factory.mktemp("tones")
    sr = 22050
    t = np.arange(int(3.0 * sr)) / sr
    return [write(base / f"tone{i}.wav", (0.3 * np.sin(2 * np.pi * (200 + 60 * i) * t)
                                         * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t))).astype(np.float32))
            for i in range(5)]


def test_extend_with_nothing_gives_the_old_bundles_predictions(trained, new_genre):
    from graham.inference.bundle import load_bundle
    from graham.inference.predict import GenreClassifier
    from graham.workflows.extend import extend_bundle

    b = load_bundle(trained.out / "bundle")
    same = GenreClassifier(extend_bundle(b, {}))
    old = GenreClassifier(load_bundle(trained.out / "bundle"))
    for p in new_genre[:2]:
        assert same.predict(p).probabilities == old.predict(p).probabilities


def test_an_extended_bundle_predicts_the_new_genre_for_its_own_examples(trained, new_genre, tmp_path):
    from graham.inference.bundle import load_bundle
    from graham.inference.predict import load

    old_files = sorted(p.name for p in (trained.out / "bundle").iterdir())
    old_config = (trained.out / "bundle" / "config.json").read_bytes()
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt nothing")
    copy = tmp_path / "copy.wav"
    shutil.copy(new_genre[2], copy)
    out = tmp_path / "extended"
    res = CliRunner().invoke(app, ["extend", str(trained.out / "bundle"), "--add", f"tremolo={new_genre[0].parent}",
                                   "--add", f"tremolo={broken}", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "broken.wav" in res.output and "added 5 clips of tremolo" in res.output
    # the old bundle is untouched
    assert sorted(p.name for p in (trained.out / "bundle").iterdir()) == old_files
    assert (trained.out / "bundle" / "config.json").read_bytes() == old_config
    b = load_bundle(out)
    assert b.classes[-1] == "tremolo" and len(b.reference) == len(trained.train_idx) + 5
    model = load(out)
    pred = model.predict(copy, neighbours=3)
    assert pred.label == "tremolo"
    assert any(n.label == "tremolo" for n in pred.neighbours)  # --neighbours shows its examples


def test_extend_refuses_to_overwrite_the_bundle_unless_asked(trained, new_genre, tmp_path):
    res = CliRunner().invoke(app, ["extend", str(trained.out / "bundle"), "--add", f"x={new_genre[0]}"])
    assert res.exit_code != 0 and "--in-place" in res.output
    res = CliRunner().invoke(app, ["extend", str(trained.out / "bundle"), "--add", f"x={tmp_path}", "--out",
                                   str(tmp_path / "o")])
    assert res.exit_code != 0 and "no audio files for label 'x'" in res.output


# -- suggest ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def suggested(trained, tmp_path_factory):
    from graham.workflows.label_less import suggest

    out = tmp_path_factory.mktemp("suggest")
    ids = trained.corpus.clip_ids
    given = {ids[i]: trained.corpus.labels[i] for i in trained.labelled_idx[::3]}
    (out / "labels.csv").write_text(labels_csv(given))
    o = suggest(DataSource("synthetic:4x3", cache=trained.out / "features"), out / "labels.csv", 8, out / "s",
                bundle=trained.out / "bundle", per_group=1, progress=False)
    return o, given, out


def test_suggest_never_returns_a_labelled_clip_and_caps_each_group(suggested, trained):
    o, given, _ = suggested
    ids = [r["clip_id"] for r in o.rows]
    assert len(ids) == 8 and not set(ids) & set(given)
    groups = [r["group"] for r in o.rows]
    assert len(set(groups)) == len(groups)  # --per-group 1
    text = (o.out / "suggestions.csv").read_text().splitlines()
    assert text[0].startswith("rank,clip_id,guess") and len(text) == 9
    assert all(r["nearest_labelled"] and r["nearest_labelled"][0][0] in given for r in o.rows)
    assert json.loads((o.out / "suggest.json").read_text())["new_groups_first"] is True


def test_suggest_errors_are_one_line(trained, tmp_path):
    (tmp_path / "l.csv").write_text("clip_id,label\nno/such/clip,rock\n")
    common = ["synthetic:4x3", "--features", str(trained.out / "features"), "--out", str(tmp_path / "o"),
              "--bundle", str(trained.out / "bundle")]
    res = CliRunner().invoke(app, ["suggest", *common, "--labels", str(tmp_path / "l.csv")])
    assert res.exit_code != 0 and "not in the data set" in res.output and "no/such/clip" in res.output
    (tmp_path / "l.csv").write_text(f"clip_id,label\n{trained.corpus.clip_ids[0]},rock\n")
    res = CliRunner().invoke(app, ["suggest", *common, "--labels", str(tmp_path / "l.csv"), "--budget", "1000"])
    assert res.exit_code != 0 and "larger than the unlabelled pool" in res.output


def test_suggest_refuses_a_bundle_of_other_features(trained, tmp_path):
    from graham.workflows.label_less import suggest

    bundle = tmp_path / "bundle"
    shutil.copytree(trained.out / "bundle", bundle)
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["mel"]["n_mels"] = cfg["mel"]["n_mels"] // 2
    (bundle / "config.json").write_text(json.dumps(cfg))
    (tmp_path / "l.csv").write_text(f"clip_id,label\n{trained.corpus.clip_ids[0]},rock\n")
    with pytest.raises(Exception, match="other log-mel settings|do not fit"):
        suggest(DataSource("synthetic:4x3", cache=trained.out / "features"), tmp_path / "l.csv", 2, tmp_path / "o",
                bundle=bundle, progress=False)


def test_the_labelling_page_saves_labels_that_suggest_reads_back(suggested, trained, tmp_path, chromium):
    """In headless Chromium: label two suggested clips (one a known genre, one a new genre typed
    in), press Save labels; the CSV the page makes holds the old labels and the new ones, and
    read_labels (what suggest and train --labels read) takes it."""
    o, given, _ = suggested
    known = trained.classes[1]
    with chromium.page(o.page.as_uri(), ready="document.readyState === 'complete' && "
                                              "!!document.getElementById('save')") as page:
        csv_text = page.evaluate(f"""(() => {{
            const rows = document.querySelectorAll('tr.clip');
            const s0 = rows[0].querySelector('select'); s0.value = {json.dumps(known)};
            s0.dispatchEvent(new Event('change'));
            const s1 = rows[1].querySelector('select'); s1.value = '__new__'; s1.dispatchEvent(new Event('change'));
            rows[1].querySelector('input.other').value = 'field, "recording"';
            document.getElementById('save').click();
            return document.getElementById('csv').value; }})()""")
        shown = page.evaluate("!document.querySelectorAll('tr.clip')[1].querySelector('input.other').hidden")
    assert shown, "choosing 'new genre' did not show the box to type it"
    path = tmp_path / "labels.csv"
    path.write_text(csv_text)
    back = read_labels(path, trained.corpus.clip_ids)
    assert back == {**given, o.rows[0]["clip_id"]: trained.classes[1], o.rows[1]["clip_id"]: 'field, "recording"'}


def test_an_unlabelled_audio_folder_is_a_pool(tmp_path):
    from graham.data.spec import open_dataset

    for i, sub in enumerate(["Album A/1.wav", "Album A/2.wav", "loose.wav"]):
        write(tmp_path / "music" / sub, tone(1.0, freq=200 + 50 * i))
    (tmp_path / "music" / "bad.wav").write_bytes(b"RIFF")
    c = open_dataset(f"audio:{tmp_path / 'music'}")
    assert c.clip_ids == ["Album A/1", "Album A/2", "loose"] and c.groups == ["Album A", "Album A", "loose"]
    assert set(c.labels) == {""} and any("bad.wav" in s.path for s in c.skipped)


def test_the_service_extends_only_when_allowed(trained, new_genre):
    from fastapi.testclient import TestClient

    from graham.inference.predict import load
    from graham.inference.serve import create_app

    model = load(trained.out / "bundle")
    files = [("files", (p.name, p.read_bytes(), "audio/wav")) for p in new_genre]
    with TestClient(create_app(model)) as client:
        assert client.post("/extend", data={"label": "tremolo"}, files=files).status_code in (404, 405)
    with TestClient(create_app(model, allow_extend=True)) as client:
        bad = [("files", ("x.wav", b"RIFF nothing", "audio/wav"))]
        r = client.post("/extend", data={"label": "tremolo"}, files=bad)
        assert r.status_code == 415 and "x.wav" in r.json()["detail"]
        r = client.post("/extend", data={"label": "tremolo"}, files=files + bad)
        assert r.status_code == 200, r.text
        assert r.json()["added"] == 5 and r.json()["classes"][-1] == "tremolo" and len(r.json()["skipped"]) == 1
        assert client.get("/health").json()["classes"][-1] == "tremolo"
        r = client.post("/predict", files={"file": ("t.wav", new_genre[1].read_bytes(), "audio/wav")})
        assert r.json()["label"] == "tremolo"
    assert model.classes == trained.classes  # the classifier it started from is left as it was


def test_a_fresh_training_on_the_labels_learns_from_every_clips_audio_when_asked(trained, tmp_path):
    """``contrastive`` reaches the Siamese network of ``train --labels`` and ``suggest``: with it,
    replacing the unlabelled clips' audio by noise changes the labelled clips' embeddings (their
    audio trained the network). Catches the setting dropped on its way (it was, before
    2026-12-06). That no label of theirs is read: test_experiment.py's
    test_unlabelled_training_clips_lend_their_audio_to_the_embedding_but_no_label."""
    import dataclasses

    from graham.workflows.label_less import fit_pool, label_less_settings, labelled_pool

    ids = trained.corpus.clip_ids
    (tmp_path / "l.csv").write_text(labels_csv({ids[i]: trained.corpus.labels[i] for i in trained.labelled_idx[::2]}))
    pool = labelled_pool(DataSource("synthetic:4x3", cache=trained.out / "features"), tmp_path / "l.csv", progress=False)
    rng = np.random.default_rng(0)
    noisy = dataclasses.replace(pool, mels=[np.asarray(m) if y >= 0 else rng.normal(size=np.shape(m)).astype(np.float32)
                                            for m, y in zip(pool.mels, pool.labels)])
    lab = pool.labelled
    assert 0 < len(lab) < len(pool.labels)
    a, b = (fit_pool(p, label_less_settings(epochs=1, contrastive=0.5), progress=False) for p in (pool, noisy))
    assert "contrastive loss (weight 0.5)" in a.how and a.run is not None and a.run.siamese_config.contrastive == 0.5
    assert not np.allclose(a.embeddings[lab], b.embeddings[lab], atol=1e-4)


def test_options_that_train_labels_does_not_use_are_refused(trained, tmp_path):
    (tmp_path / "l.csv").write_text(f"clip_id,label\n{trained.corpus.clip_ids[0]},rock\n")
    common = ["synthetic:4x3", "--features", str(trained.out / "features"), "--labels", str(tmp_path / "l.csv"),
              "--out", str(tmp_path / "o")]
    res = CliRunner().invoke(app, ["train", *common, "--fraction", "0.5", "--method", "random_forest"])
    assert res.exit_code != 0 and "does not take --fraction, --method" in res.output
    assert not (tmp_path / "o").exists()  # refused before any work
    res = CliRunner().invoke(app, ["suggest", *common, "--bundle", str(trained.out / "bundle"), "--contrastive", "1"])
    assert res.exit_code != 0 and "--contrastive" in res.output and "trains none" in res.output
