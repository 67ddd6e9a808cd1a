"""Relations between tracks that a music library already holds: the same album, the same
artist. Real tags are messy (one artist spelt two ways, "feat." parts, an ALBUM tag that is a
URL or empty), so names are normalised before they are compared, and each relation becomes
typed edges between the tracks that share a key.

Relations are inputs, never labels: an edge says two tracks share an album, not what genre
either has."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import PurePath
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["RELATIONS", "normalise_name", "artist_names", "usable_album", "album_key", "relation_edges",
           "TrackRelations"]

#: The relation kinds, in the order a model reads them.
RELATIONS = ("album", "artist", "group")

_FEAT = re.compile(r"[\s(\[]+(feat|ft|featuring)\b.*$")
_DROP = re.compile(r"[.'’`´]")
_SPACE = re.compile(r"[^\w]+")
_THE = re.compile(r"^(.*?),\s*the$")
_SPLIT = re.compile(r"\s*(?:;|/|,|&|\+|\band\b|\bvs\b|\bx\b)\s*")
_URL = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|www\.)|\.(?:com|org|net|de|fr|io)(?:/|$)")
_PLACEHOLDERS = frozenset({"", "unknown", "unknown album", "untitled", "no album", "none", "various"})


def normalise_name(text: str) -> str:
    """A name as it is compared: accents and case folded, a trailing "feat." part dropped,
    "X, The" as "the x", "&" as "and", dots and apostrophes removed, other punctuation as
    spaces, spaces collapsed.

    Examples
    --------
    >>> from graham.data.relations import normalise_name
    >>> normalise_name("DJ Ümlaut feat. Someone"), normalise_name("Dj  umlaut")
    ('dj umlaut', 'dj umlaut')
    >>> normalise_name("Beatles, The"), normalise_name("Guns N' Roses"), normalise_name("A.B.C. & Friends")
    ('the beatles', 'guns n roses', 'abc and friends')
    """
    t = unicodedata.normalize("NFKD", text)
    t = "".join(c for c in t if not unicodedata.combining(c)).casefold().strip()
    t = _FEAT.sub("", t)
    t = _THE.sub(r"the \1", t)
    t = _DROP.sub("", t.replace("&", " and "))
    return " ".join(_SPACE.sub(" ", t).split())


def artist_names(*tags: str) -> set[str]:
    """Every artist a track names (its ARTIST and ALBUMARTIST tags), normalised: each tag whole,
    and each part of a list ("A & B", "A; B", "A / B", "A vs. B").

    Examples
    --------
    >>> from graham.data.relations import artist_names
    >>> sorted(artist_names("Simon & Garfunkel", "Paul Simon feat. X"))
    ['garfunkel', 'paul simon', 'simon', 'simon and garfunkel']
    """
    names: set[str] = set()
    for tag in tags:
        if not tag or not tag.strip():
            continue
        whole = normalise_name(tag)
        if whole:
            names.add(whole)
        cut = _FEAT.sub("", unicodedata.normalize("NFKD", tag).casefold())
        names |= {n for part in _SPLIT.split(cut) if (n := normalise_name(part))}
    return names


def usable_album(album: str) -> bool:
    """Whether an ALBUM tag names an album: not empty, not a placeholder, not a URL."""
    a = album.strip().casefold()
    return normalise_name(a) not in _PLACEHOLDERS and not _URL.search(a)


def album_key(album: str, albumartist: str, folder: str | PurePath) -> str:
    """The album a track belongs to: its ALBUM with its ALBUMARTIST (normalised); with no
    ALBUMARTIST, its ALBUM within its folder; with no usable ALBUM, its folder.

    Examples
    --------
    >>> from graham.data.relations import album_key
    >>> album_key("Greatest Hits", "ABBA", "a") == album_key("greatest hits", "Abba", "b")
    True
    >>> album_key("Greatest Hits", "", "a") == album_key("Greatest Hits", "", "b")
    False
    >>> album_key("http://example.com", "X", "music/x") == album_key("", "", "music/x")
    True
    """
    if usable_album(album):
        artist = normalise_name(albumartist)
        return f"album:{artist}\x1f{normalise_name(album)}" if artist else \
            f"album-in-folder:{PurePath(folder).as_posix()}\x1f{normalise_name(album)}"
    return f"folder:{PurePath(folder).as_posix()}"


def relation_edges(keys: Sequence[Iterable[str]], *, max_neighbours: int = 32, seed: int = 0) -> np.ndarray:
    """Edges j -> i between the nodes that share a key [shape=(2, E): row 0 source, row 1
    target], no self-loops, each pair in both directions.

    A key shared by more than ``max_neighbours`` + 1 nodes (an artist of a thousand tracks)
    gives each of its nodes ``max_neighbours`` of the others, drawn with ``seed``; a node
    sharing several keys with another gets one edge.

    Parameters
    ----------
    keys : sequence of iterables of str
        Each node's keys (an empty one: no relation).
    max_neighbours : int >= 1
        Neighbours drawn per node and key at most.
    seed : int
        Seed of the draws.

    Examples
    --------
    >>> from graham.data.relations import relation_edges
    >>> relation_edges([{"a"}, {"a", "b"}, {"b"}, set()]).T.tolist()
    [[1, 0], [0, 1], [2, 1], [1, 2]]
    """
    members: dict[str, list[int]] = {}
    for i, ks in enumerate(keys):
        for k in ks:
            members.setdefault(k, []).append(i)
    rng = np.random.default_rng(seed)
    pairs: set[tuple[int, int]] = set()
    for k in sorted(members):
        nodes = np.asarray(members[k])
        if len(nodes) < 2:
            continue
        for i in nodes:
            others = nodes[nodes != i]
            if len(others) > max_neighbours:
                others = np.sort(rng.choice(others, max_neighbours, replace=False))
            pairs.update((int(j), int(i)) for j in others)
    if not pairs:
        return np.zeros((2, 0), dtype=np.int64)
    edges = np.array(sorted(pairs, key=lambda p: (p[1], p[0])), dtype=np.int64).T
    return edges


@dataclass(frozen=True)
class TrackRelations:
    """Typed edges among N tracks: ``edges[r]`` [shape=(2, E_r)] for each relation ``r`` of
    :data:`RELATIONS` that the library holds."""

    n: int
    edges: Mapping[str, np.ndarray]

    @classmethod
    def from_keys(cls, keys: Mapping[str, Sequence[Iterable[str]]], *, max_neighbours: int = 32) -> "TrackRelations":
        """Edges of each relation from each track's keys for it (every sequence of length N)."""
        lengths = {len(v) for v in keys.values()}
        if len(lengths) > 1:
            raise ValueError(f"every relation needs a key list per track, got lengths {sorted(lengths)}")
        unknown = set(keys) - set(RELATIONS)
        if unknown:
            raise ValueError(f"unknown relation {sorted(unknown)}; known: {RELATIONS}")
        n = lengths.pop() if lengths else 0
        return cls(n, {r: relation_edges(keys[r], max_neighbours=max_neighbours) for r in RELATIONS if r in keys})

    def degree(self, relation: str) -> np.ndarray:
        """Each track's neighbours in ``relation`` [shape=(N,)]."""
        e = self.edges.get(relation)
        return np.zeros(self.n, dtype=np.int64) if e is None else np.bincount(e[1], minlength=self.n)
