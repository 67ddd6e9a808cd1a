"""Relations a library holds: names normalised as a person would match them, album keys, and the
typed edges between tracks that share a key."""

import numpy as np
import pytest

from graham.data.relations import TrackRelations, album_key, artist_names, normalise_name, relation_edges, usable_album

#: Spellings of one name, as real tags hold them.
SAME = [
    ("DJ Shadow", "Dj Shadow", "dj shadow ", "DJ  Shadow"),
    ("Beyoncé", "Beyonce", "BEYONCÉ"),
    ("The Beatles", "Beatles, The", "the beatles"),
    ("Guns N' Roses", "Guns N Roses", "Guns N’ Roses"),
    ("R.E.M.", "REM", "r.e.m"),
    ("Daft Punk feat. Pharrell Williams", "Daft Punk ft. Pharrell", "Daft Punk (feat. Nile Rodgers)", "Daft Punk"),
    ("Simon & Garfunkel", "Simon and Garfunkel", "simon &garfunkel"),
    ("AC/DC", "AC DC", "ac-dc"),
    ("Sigur Rós", "Sigur Ros"),
]

#: Names that must stay apart.
APART = [
    ("Simon & Garfunkel", "Paul Simon"),
    ("The The", "The"),
    ("Featherstone", "Feather"),  # "feat" inside a word is no featuring
    ("Aftab", "Ft"),
    ("Beatles", "The Beatles"),  # no article dropped: a person who typed "Beatles" meant it, or not
]


@pytest.mark.parametrize("spellings", SAME)
def test_spellings_of_one_name_meet(spellings):
    assert len({normalise_name(s) for s in spellings}) == 1, [normalise_name(s) for s in spellings]


@pytest.mark.parametrize("a,b", APART)
def test_other_names_stay_apart(a, b):
    assert normalise_name(a) != normalise_name(b)


def test_a_featured_artist_and_a_duo_share_each_member():
    assert {"daft punk", "pharrell williams"} <= artist_names("Daft Punk; Pharrell Williams")
    duo, solo = artist_names("Simon & Garfunkel"), artist_names("Paul Simon")
    assert duo & artist_names("Art Garfunkel & Simon") and not duo & solo
    assert artist_names("", "  ") == set()


@pytest.mark.parametrize("album,usable", [("Abbey Road", True), ("", False), ("  ", False),
                                          ("http://ocremix.org/album/1", False), ("www.example.com", False),
                                          ("ocremix.org", False), ("Unknown Album", False), ("1984", True)])
def test_an_album_tag_that_is_a_url_or_a_placeholder_is_no_album(album, usable):
    assert usable_album(album) is usable


def test_album_keys():
    # the same album spelt two ways, by the same album artist, in two folders: one album
    assert album_key("Abbey Road", "The Beatles", "x/1") == album_key("abbey road ", "Beatles, The", "y/2")
    # a common title without an album artist: one album per folder, not one for the whole library
    assert album_key("Greatest Hits", "", "a") != album_key("Greatest Hits", "", "b")
    # no usable album: the folder is the album
    assert album_key("http://x.org", "Z", "music/a") == album_key("", "", "music/a") != album_key("", "", "music/b")


def _dense(keys, n):
    """The edges written from the definition: i and j (i != j) share a key."""
    return {(j, i) for i in range(n) for j in range(n) if i != j and set(keys[i]) & set(keys[j])}


def test_edges_join_exactly_the_tracks_that_share_a_key():
    rng = np.random.default_rng(0)
    keys = [set(rng.choice(list("abcdef"), size=rng.integers(0, 3), replace=False)) for _ in range(40)]
    e = relation_edges(keys, max_neighbours=100)
    got = set(map(tuple, e.T.tolist()))
    assert got == _dense(keys, 40) and len(got) == e.shape[1]  # no duplicate edge
    assert (e[0] != e[1]).all()


def test_a_huge_group_gives_each_track_at_most_max_neighbours_of_it():
    keys = [{"prolific artist"}] * 200
    e = relation_edges(keys, max_neighbours=8, seed=1)
    assert np.bincount(e[1], minlength=200).max() <= 16  # its own 8 draws, and those that drew it
    assert np.bincount(e[1], minlength=200).min() >= 8
    assert set(map(tuple, e.T.tolist())) <= _dense(keys, 200)
    np.testing.assert_array_equal(e, relation_edges(keys, max_neighbours=8, seed=1))  # seeded


def test_track_relations_by_kind():
    r = TrackRelations.from_keys({"album": [{"x"}, {"x"}, set()], "artist": [{"a"}, set(), {"a"}]})
    assert r.degree("album").tolist() == [1, 1, 0] and r.degree("artist").tolist() == [1, 0, 1]
    assert r.degree("group").tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="unknown relation"):
        TrackRelations.from_keys({"label": [set()]})
    with pytest.raises(ValueError, match="per track"):
        TrackRelations.from_keys({"album": [set()], "artist": [set(), set()]})


@pytest.mark.parametrize("ext,fmt,subtype", [("ogg", "OGG", "VORBIS"), ("opus", "OGG", "OPUS"), ("flac", "FLAC", None),
                                             ("mp3", "MP3", "MPEG_LAYER_III")])
def test_tags_are_read_from_every_format_and_the_file_is_left_as_it_was(tmp_path, ext, fmt, subtype):
    import hashlib

    import mutagen
    import soundfile as sf

    from graham.data.tags import read_tags

    path = tmp_path / f"song.{ext}"
    sr = 48000 if subtype == "OPUS" else 22050
    sf.write(str(path), np.zeros(sr, dtype=np.float32), sr, format=fmt, subtype=subtype)
    f = mutagen.File(path, easy=True)
    if f.tags is None:
        f.add_tags()
    f["artist"], f["albumartist"], f["album"], f["title"] = "Daft Punk feat. X", "Daft Punk", "Discovery", "One"
    f["genre"] = ["House", "French house"]
    f.save()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    t = read_tags(path)
    assert (t.artist, t.albumartist, t.album, t.title, t.genre) == ("Daft Punk feat. X", "Daft Punk", "Discovery",
                                                                    "One", "House; French house")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    keys = t.relation_keys("lib/Daft Punk")
    assert keys["artist"] == {"daft punk"} and keys["album"] == {album_key("discovery", "daft punk", "elsewhere")}


def test_a_file_without_tags_and_a_file_that_is_not_audio(tmp_path):
    import soundfile as sf

    from graham.data.tags import read_tags
    from graham.errors import AudioError

    sf.write(str(tmp_path / "bare.flac"), np.zeros(2205, dtype=np.float32), 22050, format="FLAC")
    assert read_tags(tmp_path / "bare.flac").genre == ""
    (tmp_path / "notes.mp3").write_text("not audio at all")
    with pytest.raises(AudioError, match="notes.mp3"):
        read_tags(tmp_path / "notes.mp3")
    with pytest.raises(AudioError, match="missing.ogg"):
        read_tags(tmp_path / "missing.ogg")
