"""graham audit on tiny data: an injected duplicate is found, a flipped label ranks first, and
its exclusion list feeds --exclude (issue 22)."""

import json

import numpy as np
import soundfile as sf
import torch
from typer.testing import CliRunner

from graham.audio import LogMel, MelConfig
from graham.audit.fingerprint import find_duplicates, fingerprint
from graham.cli import app
from graham.data.exclusions import read_exclusions
from graham.synth import synthesize_clip

runner = CliRunner()


def _mel(y):
    return LogMel(MelConfig())(torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))).numpy()


def test_fingerprints_match_a_recording_through_gain_offset_and_re_encoding():
    """The same render at another gain, cut 1.3 s later, or through MP3 matches its original
    at the right offset; other clips of the same genre match nothing."""
    import io

    _, y = synthesize_clip("rock", 0, seconds=12.0, seed=0)
    buf = io.BytesIO()
    sf.write(buf, y, 22050, format="MP3")
    buf.seek(0)
    mp3, _ = sf.read(buf, dtype="float32")
    others = [synthesize_clip("rock", k, seconds=12.0, seed=0)[1] for k in (1, 2, 3)]
    clips = [y, 0.3 * y, y[int(1.3 * 22050):], mp3] + others
    pairs = find_duplicates([fingerprint(_mel(c)) for c in clips])
    found = {(d.a, d.b) for d in pairs}
    assert found == {(a, b) for a in range(4) for b in range(a + 1, 4)}, [(d.a, d.b, d.score) for d in pairs]
    shifted = next(d for d in pairs if (d.a, d.b) == (0, 2))
    assert abs(shifted.offset * 512 / 22050 - 1.3) < 0.05  # b's material sits 1.3 s into a


def test_audit_finds_the_duplicate_and_ranks_the_flipped_label_first(tmp_path):
    root = tmp_path / "music"
    genres = ("rock", "jazz", "metal")
    for g in genres:
        for k in range(12):
            _, y = synthesize_clip(g, k, seconds=6.0, seed=1)
            (root / g / f"t{k}").mkdir(parents=True)
            sf.write(str(root / g / f"t{k}" / f"{g}{k}.wav"), y, 22050)
    _, y = synthesize_clip("rock", 3, seconds=6.0, seed=1)
    (root / "rock" / "copy").mkdir()
    sf.write(str(root / "rock" / "copy" / "rock3-louder.wav"), 0.5 * y / np.abs(y).max(), 22050)  # a duplicate
    _, y = synthesize_clip("metal", 20, seconds=6.0, seed=1)
    (root / "jazz" / "odd").mkdir()
    sf.write(str(root / "jazz" / "odd" / "flipped.wav"), y, 22050)  # metal filed as jazz

    res = runner.invoke(app, ["audit", f"folder:{root}", "--out", str(tmp_path / "audit"),
                              "--features", str(tmp_path / "feat")])
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "audit" / "audit.json").read_text())
    pairs = {frozenset((d["a"], d["b"])) for d in doc["duplicates"]}
    assert len(pairs) == 1 and next(iter(pairs)) == {"rock/t3/rock3", "rock/copy/rock3-louder"}, doc["duplicates"]
    assert doc["suspects"][0]["clip_id"] == "jazz/odd/flipped" and doc["suspects"][0]["suggested"] == "metal"
    assert {c["class"]: c["clips"] for c in doc["per_class"]} == {"jazz": 13, "metal": 12, "rock": 13}
    html = (tmp_path / "audit" / "audit.html").read_text()
    assert html.count("<audio") >= 3 and "data:audio/wav;base64," in html and "data:image/png;base64," in html
    for name in ("duplicates.csv", "suspects.csv", "classes.csv"):
        assert (tmp_path / "audit" / name).read_text().count("\n") >= 2
    exclude = read_exclusions(tmp_path / "audit" / "audit.json")
    assert "jazz/odd/flipped" in exclude and len({"rock/t3/rock3", "rock/copy/rock3-louder"} & set(exclude)) == 1
