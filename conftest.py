"""What the tests (tests/) and the docstring examples (src/graham, run as doctests) share: a
private cache folder, and one tiny trained run of the whole path on the synthetic corpus.

A docstring example reads ``bundle`` (that run's bundle folder, as ``graham train`` writes
``RUN/bundle``), ``song`` (a 10-s WAV file of the synthetic corpus), ``tmp`` (an empty folder)
and ``tiny`` (model settings of a tiny network, for examples that train)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tests"))  # the tests' tiny models (tests/tiny.py)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GRAHAM_CACHE", str(tmp_path_factory.getbasetemp() / "graham-cache"))


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A run of the whole path with a tiny network on a tiny synthetic corpus (40 clips)."""
    from graham.workflows.requests import DataSource
    from graham.workflows.train import train_model

    from tiny import settings, tiny_siamese

    out = tmp_path_factory.mktemp("run")
    return train_model(DataSource("synthetic:4x3", cache=out / "features"), out,
                       settings(tiny_siamese(epochs=2), gnn_epochs=30), progress=False)


@pytest.fixture(scope="session")
def example_song(tmp_path_factory) -> str:
    import soundfile as sf

    from graham.synth.corpus import synthesize_clip

    _, y = synthesize_clip("rock", 0, seconds=10.0, seed=3)
    path = tmp_path_factory.mktemp("song") / "song.wav"
    sf.write(str(path), y, 22050)
    return str(path)


@pytest.fixture(autouse=True)
def _examples(request, doctest_namespace, tmp_path):
    """The names a docstring example reads, made only for the examples that read them."""
    if type(request.node).__name__ != "DoctestItem":
        return
    text = request.node.dtest.docstring or ""
    doctest_namespace["tmp"] = str(tmp_path)
    if "bundle" in text:
        doctest_namespace["bundle"] = str(request.getfixturevalue("trained").out / "bundle")
    if "song" in text:
        doctest_namespace["song"] = request.getfixturevalue("example_song")
    if "tiny" in text:
        from tiny import settings, tiny_siamese

        doctest_namespace["tiny"] = settings(tiny_siamese(epochs=1), gnn_epochs=5)
