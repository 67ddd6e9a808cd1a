"""Writing GENRE tags into music files: only where asked, atomically, verified, undoable, and a
file that cannot be written is reported and left byte-identical."""

import hashlib
import os

import mutagen
import numpy as np
import pytest
import soundfile as sf

from graham.data.tag_write import GenreWrite, undo, write_genres

FORMATS = [("ogg", "OGG", "VORBIS"), ("opus", "OGG", "OPUS"), ("flac", "FLAC", None), ("mp3", "MP3", "MPEG_LAYER_III")]


def _song(path, fmt, subtype, **tags):
    sr = 48000 if subtype == "OPUS" else 22050
    sf.write(str(path), np.zeros(sr // 2, dtype=np.float32), sr, format=fmt, subtype=subtype)
    if tags:
        f = mutagen.File(path, easy=True)
        if f.tags is None:
            f.add_tags()
        for k, v in tags.items():
            f[k] = v
        f.save()
    return path


def _all_tags(path):
    f = mutagen.File(path, easy=True)
    return {k: list(v) for k, v in (f.tags or {}).items()}


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_write_then_undo_restores_every_tag_exactly(tmp_path):
    songs = [_song(tmp_path / f"a.{ext}", fmt, sub, artist="X", title="One") for ext, fmt, sub in FORMATS]
    songs.append(_song(tmp_path / "genred.flac", "FLAC", None, genre=["jazz", "bebop"], album="A"))
    before = {p: _all_tags(p) for p in songs}
    writes = [GenreWrite(p, "ambient") for p in songs]
    report = write_genres(writes, tmp_path / "undo.jsonl", overwrite=True)
    assert sorted(report.written) == sorted(songs) and not report.failed
    for p in songs:
        after = _all_tags(p)
        assert after["genre"] == ["ambient"]
        assert {k: v for k, v in after.items() if k != "genre"} == {k: v for k, v in before[p].items() if k != "genre"}
    back = undo(tmp_path / "undo.jsonl")
    assert sorted(back.written) == sorted(songs) and not back.failed
    assert {p: _all_tags(p) for p in songs} == before
    assert not list(tmp_path.glob("*.graham-tmp"))  # no copy left behind


def test_a_file_with_a_genre_is_kept_unless_overwrite(tmp_path):
    kept = _song(tmp_path / "kept.ogg", "OGG", "VORBIS", genre=["rock"])
    bare = _song(tmp_path / "bare.ogg", "OGG", "VORBIS", artist="Y")
    digest = _digest(kept)
    report = write_genres([GenreWrite(kept, "ambient"), GenreWrite(bare, "ambient")], tmp_path / "undo.jsonl")
    assert report.kept == [kept] and report.written == [bare]
    assert _digest(kept) == digest and _all_tags(bare)["genre"] == ["ambient"]


def test_files_that_cannot_be_written_are_reported_and_left_byte_identical(tmp_path):
    ro = _song(tmp_path / "ro.flac", "FLAC", None, artist="Z")
    os.chmod(ro, 0o444)
    au = tmp_path / "old.au"
    sf.write(str(au), np.zeros(1000, dtype=np.float32), 8000, format="AU", subtype="PCM_16")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not an mp3 at all" * 10)
    digests = {p: _digest(p) for p in (ro, au, junk)}
    report = write_genres([GenreWrite(p, "ambient") for p in (ro, au, junk, tmp_path / "gone.ogg")],
                          tmp_path / "undo.jsonl")
    reasons = {p.name: why for p, why in report.failed}
    assert set(reasons) == {"ro.flac", "old.au", "junk.mp3", "gone.ogg"} and not report.written
    assert reasons["ro.flac"] == "read-only" and "without tags" in reasons["old.au"] and reasons["gone.ogg"] == "no such file"
    assert all(_digest(p) == d for p, d in digests.items())
    os.chmod(ro, 0o644)


def test_undo_leaves_a_file_whose_genre_changed_since(tmp_path):
    song = _song(tmp_path / "s.ogg", "OGG", "VORBIS")
    write_genres([GenreWrite(song, "ambient")], tmp_path / "undo.jsonl")
    f = mutagen.File(song, easy=True)
    f["genre"] = ["chosen by hand"]
    f.save()
    report = undo(tmp_path / "undo.jsonl")
    assert [p.name for p, _ in report.failed] == ["s.ogg"] and _all_tags(song)["genre"] == ["chosen by hand"]


@pytest.mark.parametrize("stop_after", [0, 1])
def test_the_undo_log_is_written_before_each_file_changes(tmp_path, monkeypatch, stop_after):
    """A run killed while writing: every file changed is in the log already, so undo restores it."""
    import graham.data.tag_write as tw

    songs = [_song(tmp_path / f"{k}.ogg", "OGG", "VORBIS", artist=str(k)) for k in range(3)]
    before = {p: _all_tags(p) for p in songs}
    real, calls = tw._replace_genres, []

    def dies(path, genres):
        if len(calls) == stop_after + 1:
            raise KeyboardInterrupt  # killed before this file's copy replaced it
        calls.append(path)
        return real(path, genres)

    monkeypatch.setattr(tw, "_replace_genres", dies)
    with pytest.raises(KeyboardInterrupt):
        write_genres([GenreWrite(p, "ambient") for p in songs], tmp_path / "undo.jsonl")
    monkeypatch.setattr(tw, "_replace_genres", real)
    undo(tmp_path / "undo.jsonl")
    assert {p: _all_tags(p) for p in songs} == before
