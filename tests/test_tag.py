"""``graham tag`` on a small, real, tagged library: Ogg Vorbis files with ARTIST / ALBUM / GENRE
tags, some tracks without a genre; predictions with their evidence; GENRE written only where
asked, and undone exactly; a rerun embeds only what is new."""

import csv

import mutagen
import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from graham.cli import app
from graham.synth import synthesize_clip

#: album -> (album artist, style of its tracks, how many of its tracks carry a GENRE tag)
ALBUMS = {"Dust Roads": ("Hank", "country", 2), "Night Club": ("DJ Spin", "disco", 2),
          "Blue Note": ("Miles", "jazz", 2), "Back Porch": ("hank", "country", 0),
          "Mirror Ball": ("Dj Spin", "disco", 0), "Late Set": ("Miles", "jazz", 1)}


def _library(root, tracks_per_album=3):
    """The library, and every file's tags as written."""
    tags = {}
    for a, (album, (artist, style, tagged)) in enumerate(ALBUMS.items()):
        for k in range(tracks_per_album):
            _, y = synthesize_clip(style, a * 10 + k, seconds=6.0, seed=5)
            path = root / artist / album / f"{k + 1:02d}.ogg"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(path), y, 22050, format="OGG", subtype="VORBIS")
            f = mutagen.File(path, easy=True)
            f["artist"], f["albumartist"], f["album"], f["title"] = artist, artist, album, f"{album} {k + 1}"
            if k < tagged:
                f["genre"] = style
            f.save()
            tags[path] = {key: list(v) for key, v in mutagen.File(path, easy=True).tags.items()}
    return tags


def _rows(path):
    return {r["file"]: r for r in csv.DictReader(open(path))}


@pytest.fixture(scope="module")
def tagged(trained, tmp_path_factory):
    root = tmp_path_factory.mktemp("library")
    tags = _library(root)
    out = root.parent / (root.name + "-out")
    res = CliRunner().invoke(app, ["tag", str(root), "--out", str(out), "--bundle", str(trained.out / "bundle"),
                                   "--min-tracks", "2"])
    assert res.exit_code == 0, res.output
    return root, out, tags, res.output


def test_every_untagged_track_gets_a_genre_with_its_evidence(tagged):
    root, out, tags, output = tagged
    rows = _rows(out / "tags.csv")
    assert len(rows) == len(tags) == 18 and "18 tracks, 7 tagged in 3 genres" in output
    untagged = [r for r in rows.values() if not r["current_genre"]]
    assert len(untagged) == 11
    assert all(r["predicted"] in ("country", "disco", "jazz") and 0 < float(r["confidence"]) <= 1 for r in untagged)
    # a track of "Late Set" (one tagged track, jazz): its album mate votes jazz
    late = rows["Miles/Late Set/02.ogg"]
    assert late["album_vote"] == "jazz 1/1" and late["artist_vote"].startswith("jazz")
    # "Back Porch" has no tagged track, but its album artist ("hank") is Hank of "Dust Roads"
    porch = rows["hank/Back Porch/01.ogg"]
    assert porch["album_vote"] == "" and porch["artist_vote"] == "country 2/2"
    assert len(porch["nearest_tagged"].split("; ")) == 3


def test_labels_reach_untagged_tracks_along_their_relations(tagged, trained):
    """This test's tiny network embeds every track alike (the audio says nothing here), so only
    the relations can place the untagged tracks: smoothed over them, the tagged album mates'
    and same-artist tracks' genres reach every untagged track; the audio alone stays near chance."""
    import dataclasses
    import hashlib

    from graham.data.library import read_library
    from graham.inference.predict import load
    from graham.workflows.tag import embed_tracks
    from graham.workflows.tag_graph import LIBRARY_GNN, predict_library

    root, out, _, _ = tagged
    lib = read_library(root, min_tracks=2)
    bundle = trained.out / "bundle"
    digest = hashlib.blake2b((bundle / "siamese.safetensors").read_bytes(), digest_size=16).hexdigest()
    emb, _ = embed_tracks(load(bundle).front, [t.path for t in lib.tracks], out / "cache", model_digest=digest,
                          progress=False)
    style = {album: s for album, (_, s, _) in ALBUMS.items()}
    untagged = [i for i, g in enumerate(lib.genres) if not g]

    def accuracy(rows):
        return np.mean([rows[i]["predicted"] == style[lib.tracks[i].path.parent.name] for i in untagged])

    audio = dataclasses.replace(LIBRARY_GNN, relations=())
    related = accuracy(predict_library(lib, emb, config=audio, smooth_relations=("album", "artist"),
                                       smooth_audio=False))
    alone = accuracy(predict_library(lib, emb, config=dataclasses.replace(audio, smooth=False)))
    assert related >= 0.9 and related - alone >= 0.3, (related, alone)


def test_write_then_undo(tagged, trained, tmp_path):
    """--write sets GENRE only where none is; --undo puts back every tag exactly."""
    import shutil

    root, out, tags, _ = tagged
    lib = tmp_path / "lib"
    shutil.copytree(root, lib)
    before = {p: {k: list(v) for k, v in mutagen.File(p, easy=True).tags.items()} for p in sorted(lib.rglob("*.ogg"))}
    res = CliRunner().invoke(app, ["tag", str(lib), "--out", str(tmp_path / "o"), "--bundle", str(trained.out / "bundle"),
                                   "--min-tracks", "2", "--write", "--min-confidence", "0"])
    assert res.exit_code == 0, res.output
    after = {p: {k: list(v) for k, v in mutagen.File(p, easy=True).tags.items()} for p in before}
    changed = [p for p in before if before[p] != after[p]]
    assert len(changed) == 11 and all("genre" not in before[p] and after[p]["genre"] for p in changed)
    assert all(after[p] == before[p] for p in before if "genre" in before[p])  # a genre a file had: kept
    log = next((tmp_path / "o").glob("undo-*.jsonl"))
    res = CliRunner().invoke(app, ["tag", "--undo", str(log)])
    assert res.exit_code == 0 and "restored 11 files" in res.output, res.output
    assert {p: {k: list(v) for k, v in mutagen.File(p, easy=True).tags.items()} for p in before} == before


def test_a_rerun_embeds_only_the_files_added(tagged, trained, tmp_path, monkeypatch):
    import shutil

    import graham.workflows.tag as tag_module
    from graham.workflows.tag import tag_library

    root, out, _, _ = tagged
    lib = tmp_path / "lib"
    shutil.copytree(root, lib)
    shutil.copytree(out / "cache", tmp_path / "o" / "cache")  # the first run's embeddings
    _, y = synthesize_clip("jazz", 99, seconds=6.0, seed=5)
    sf.write(str(lib / "Miles" / "new.ogg"), y, 22050, format="OGG", subtype="VORBIS")
    embedded = []
    real = tag_module._embed_file
    monkeypatch.setattr(tag_module, "_embed_file", lambda front, p: embedded.append(p.name) or real(front, p))
    res = tag_library(lib, tmp_path / "o", trained.out / "bundle", min_tracks=2, progress=False)
    assert embedded == ["new.ogg"] and len(res.rows) == 19


def test_a_library_without_two_tagged_genres_points_to_suggest(trained, tmp_path):
    for k in range(3):
        _, y = synthesize_clip("rock", k, seconds=2.0, seed=1)
        sf.write(str(tmp_path / f"{k}.ogg"), y, 22050, format="OGG", subtype="VORBIS")
    (tmp_path / "broken.ogg").write_bytes(b"OggS and nothing")
    res = CliRunner().invoke(app, ["tag", str(tmp_path), "--out", str(tmp_path / "o"), "--bundle",
                                   str(trained.out / "bundle")])
    assert res.exit_code == 2 and "graham suggest" in res.output and "Traceback" not in res.output
    assert res.output.count("error:") == 1


def test_the_review_page_saves_decisions_that_apply_writes(tagged, trained, tmp_path, chromium):
    """In headless Chromium: the page offers every untagged track with its guess chosen; change
    one, leave one untagged, save; --apply writes exactly those, and --undo puts them back."""
    import json
    import shutil

    root, out, _, _ = tagged
    lib = tmp_path / "lib"
    shutil.copytree(root, lib)
    page = out / "review.html"
    with chromium.page(page.as_uri(), ready="document.readyState === 'complete' && !!document.getElementById('save')") as p:
        shown = p.evaluate("[...document.querySelectorAll('tr.track')].map(tr => [tr.dataset.file, "
                           "tr.querySelector('select').value])")
        text = p.evaluate(f"""(() => {{
            const rows = document.querySelectorAll('tr.track');
            rows[0].querySelector('select').value = {json.dumps('jazz')};
            rows[1].querySelector('select').value = '';
            document.getElementById('save').click();
            return document.getElementById('csv').value; }})()""")
    rows = _rows(out / "tags.csv")
    assert sorted(f for f, _ in shown) == sorted(f for f, r in rows.items() if not r["current_genre"])
    assert all(genre == rows[f]["predicted"] for f, genre in shown)  # each guess chosen already
    (tmp_path / "reviewed.csv").write_text(text)
    lines = text.strip().splitlines()
    assert lines[0] == "file,genre" and len(lines) == len(shown)  # one left untagged
    assert lines[1] == f"{shown[0][0]},jazz"
    before = {p: {k: list(v) for k, v in mutagen.File(p, easy=True).tags.items()} for p in sorted(lib.rglob("*.ogg"))}
    res = CliRunner().invoke(app, ["tag", str(lib), "--out", str(tmp_path / "o"), "--apply", str(tmp_path / "reviewed.csv")])
    assert res.exit_code == 0 and f"wrote GENRE into {len(shown) - 1} files" in res.output, res.output
    assert mutagen.File(lib / shown[0][0], easy=True)["genre"] == ["jazz"]
    assert "genre" not in mutagen.File(lib / shown[1][0], easy=True).tags
    log = next((tmp_path / "o").glob("undo-*.jsonl"))
    assert CliRunner().invoke(app, ["tag", "--undo", str(log)]).exit_code == 0
    assert {p: {k: list(v) for k, v in mutagen.File(p, easy=True).tags.items()} for p in before} == before


def test_apply_refuses_a_file_outside_the_library(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "reviewed.csv").write_text("file,genre\n../outside.ogg,rock\n")
    res = CliRunner().invoke(app, ["tag", str(tmp_path / "lib"), "--out", str(tmp_path / "o"), "--apply",
                                   str(tmp_path / "reviewed.csv")])
    assert res.exit_code == 2 and "outside the library" in res.output


def test_without_a_bundle_the_embedding_trains_on_the_tagged_tracks_alone(tagged, tmp_path, monkeypatch):
    """Labels from the tagged tracks only (each excerpt its track's genre, grouped by album);
    an untagged track lends its first excerpt's audio to the contrastive loss, never a label."""
    import json

    import graham.train.siamese as siamese
    from graham.workflows.tag import tag_library

    from tiny import settings, tiny_siamese

    root, _, tags, _ = tagged
    seen = {}
    real = siamese.train_siamese

    def spy(mels, labels, config=None, *, unlabelled=(), groups=None, **kw):
        seen.update(labels=list(labels), unlabelled=len(unlabelled), groups=sorted(set(groups)))
        return real(mels, labels, config, unlabelled=unlabelled, groups=groups, **kw)

    monkeypatch.setattr(siamese, "train_siamese", spy)
    res = tag_library(root, tmp_path / "o", settings=settings(tiny_siamese(epochs=1, contrastive=0.5)), min_tracks=2,
                      progress=False)
    assert len(res.rows) == 18 and (tmp_path / "o" / "siamese" / "last.safetensors").exists()
    tagged_tracks = [p for p, t in tags.items() if "genre" in t]
    assert len(seen["labels"]) == len(tagged_tracks)  # one excerpt each: 6-s tracks
    assert seen["unlabelled"] == len(tags) - len(tagged_tracks) and len(seen["groups"]) == 4  # 4 albums tagged
    assert json.loads((tmp_path / "o" / "tag.json").read_text())["embedding"] == "trained on the tagged tracks"


def test_a_dry_run_changes_no_byte_of_the_library(tagged, trained, tmp_path):
    """Without --write, graham tag reads: every file of the library is byte-identical after it."""
    import hashlib
    import shutil

    root, out, _, _ = tagged
    lib = tmp_path / "lib"
    shutil.copytree(root, lib)
    shutil.copytree(out / "cache", tmp_path / "o" / "cache")

    def digests():
        return {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(lib.rglob("*")) if p.is_file()}

    before = digests()
    res = CliRunner().invoke(app, ["tag", str(lib), "--out", str(tmp_path / "o"), "--bundle", str(trained.out / "bundle"),
                                   "--min-tracks", "2"])
    assert res.exit_code == 0, res.output
    assert digests() == before and not list((tmp_path / "o").glob("undo-*"))
