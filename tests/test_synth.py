import hashlib

import numpy as np
import pytest
import soundfile as sf
import torch

from graham.audio import LogMel
from graham.data import read_gtzan
from graham.errors import ParameterError
from graham.synth import GENRES, STYLES, SynthSpec, compose, generate_corpus, render, synthesize_clip
from graham.synth.instruments import PATCHES, render_drum, render_voice
from graham.synth.score import DRUM_PIECES


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_same_seed_gives_byte_identical_files_whatever_the_workers(tmp_path):
    spec = SynthSpec(per_genre=2, seconds=1.5, seed=7, genres=("jazz", "metal"))
    a = generate_corpus(tmp_path / "a", spec, workers=1, progress=False)
    b = generate_corpus(tmp_path / "b", spec, workers=2, progress=False)
    files = sorted(p.relative_to(a) for p in a.rglob("*.wav"))
    assert [str(f) for f in files] == ["jazz/jazz.00000.wav", "jazz/jazz.00001.wav", "metal/metal.00000.wav",
                                       "metal/metal.00001.wav"]
    assert all(_sha(a / f) == _sha(b / f) for f in files)
    c = generate_corpus(tmp_path / "c", SynthSpec(per_genre=2, seconds=1.5, seed=8, genres=("jazz", "metal")),
                        workers=1, progress=False)
    assert _sha(a / files[0]) != _sha(c / files[0])
    assert _sha(a / files[0]) != _sha(a / files[1])  # every clip differs


def test_layout_duration_rate_and_gtzan_reader(tmp_path):
    out = generate_corpus(tmp_path / "s", SynthSpec(per_genre=1, seconds=2.0, sample_rate=16000), workers=2,
                          progress=False)
    corpus = read_gtzan(out)
    assert corpus.classes == list(GENRES) and len(corpus) == 10 and not corpus.skipped
    for clip in corpus:
        info = sf.info(str(clip.path))
        assert (info.samplerate, info.channels, info.frames, info.subtype) == (16000, 1, 32000, "PCM_16")
    assert (out / "scores.tsv").read_text().count("\n") == 11


def test_skip_existing_reuses_a_complete_corpus(tmp_path):
    spec = SynthSpec(per_genre=1, seconds=0.5, genres=("pop",))
    out = generate_corpus(tmp_path / "s", spec, workers=1, progress=False)
    wav = out / "pop" / "pop.00000.wav"
    before = wav.stat().st_mtime_ns
    generate_corpus(out, spec, workers=1, progress=False)
    assert wav.stat().st_mtime_ns == before


def test_spec_validation():
    with pytest.raises(ParameterError):
        SynthSpec(genres=("polka",))
    with pytest.raises(ParameterError):
        SynthSpec(per_genre=0)
    with pytest.raises(ParameterError):
        compose("rock", seconds=0)


@pytest.mark.parametrize("genre", GENRES)
def test_score_tempo_meter_and_events_stay_in_the_style(genre):
    style = STYLES[genre]
    for seed in range(6):
        s = compose(genre, seconds=8.0, seed=seed)
        assert style.tempo[0] <= s.tempo <= style.tempo[1]
        assert s.meter in style.meters
        assert s.notes and all(0 <= n.onset < 8.0 and n.duration > 0 and 0 < n.velocity <= 1 for n in s.notes)
        assert [n.onset for n in s.notes] == sorted(n.onset for n in s.notes)
        assert all(n.patch in DRUM_PIECES for n in s.notes if n.track == "drums")
        assert all(n.patch in PATCHES for n in s.notes if n.track != "drums")


def _offbeat_position(score, piece_names):
    """Median position, within a beat pair of eighths, of drum hits that fall after the beat."""
    pos = []
    for n in score.notes:
        if n.track == "drums" and n.patch in piece_names:
            frac = (n.onset / score.beat_seconds) % 1.0
            if 0.3 < frac < 0.85:
                pos.append(frac)
    return float(np.median(pos))


def test_swing_ratio_in_jazz_and_blues_straight_in_rock_and_metal():
    for seed in range(4):
        jazz = compose("jazz", seconds=10, seed=seed)
        assert 0.6 <= jazz.swing <= 0.68
        assert abs(_offbeat_position(jazz, {"ride"}) - jazz.swing) < 0.04
        rock = compose("rock", seconds=10, seed=seed)
        assert abs(_offbeat_position(rock, {"hat"}) - 0.5) < 0.05
        assert compose("blues", seconds=5, seed=seed).swing >= 0.62
        assert compose("metal", seconds=5, seed=seed).swing == 0.5


def test_drums_presence_and_grooves():
    for seed in range(5):
        assert "drums" not in compose("classical", seconds=6, seed=seed).tracks()
        for g in ("disco", "hiphop", "metal", "rock", "reggae", "jazz", "pop"):
            assert "drums" in compose(g, seconds=6, seed=seed).tracks()
        disco = compose("disco", seconds=8, seed=seed)
        kicks = sorted(round(n.onset / disco.beat_seconds) for n in disco.notes if n.patch == "kick")
        assert set(range(0, kicks[-1] + 1)) <= set(kicks)  # four on the floor: a kick on every beat
        reggae = compose("reggae", seconds=8, seed=seed)
        skank = [(n.onset / reggae.beat_seconds) % 1 for n in reggae.notes if n.track == "comp"]
        assert np.median(np.abs(np.array(skank) - 0.5)) < 0.1  # chords on the off-beats


def test_harmony_traits():
    assert compose("blues", seconds=5, seed=0).progression.startswith("12bar")
    metal = compose("metal", seconds=5, seed=0)
    assert metal.production.distortion >= 0.6
    guitars = [n for n in metal.notes if n.track == "comp"]
    assert all(n.patch in ("ks_guitar_drive", "ks_muted") for n in guitars)
    assert all(compose("classical", seconds=5, seed=s).production.reverb >= 0.3 for s in range(3))


def test_render_length_level_and_every_voice():
    s = compose("pop", seconds=3.0, seed=1)
    y = render(s, sr=22050, seed=2)
    assert y.dtype == np.float32 and y.shape == (66150,) and np.isfinite(y).all() and np.abs(y).max() <= 1.0
    rms_db = 20 * np.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    assert abs(rms_db - s.production.loudness_db) < 1.5
    np.testing.assert_array_equal(y, render(s, sr=22050, seed=2))
    rng = np.random.default_rng(0)
    for patch in PATCHES:
        v = render_voice(patch, 57, 0.3, 22050, rng)
        assert np.isfinite(v).all() and np.abs(v).max() > 0
    for piece in DRUM_PIECES:
        d = render_drum(piece, 22050, rng)
        assert np.isfinite(d).all() and np.abs(d).max() > 0


def _clip_table(per_genre=14, seconds=6.0):
    import librosa
    simple, rich, y = [], [], []
    lm = LogMel()
    for gi, g in enumerate(GENRES):
        for i in range(per_genre):
            score, a = synthesize_clip(g, i, seconds=seconds, seed=3)
            cent = librosa.feature.spectral_centroid(y=a, sr=22050).mean()
            zcr = librosa.feature.zero_crossing_rate(a).mean()
            simple.append([score.tempo, np.sqrt(np.mean(a ** 2)), cent, zcr])
            with torch.no_grad():
                m = lm(torch.from_numpy(a)).numpy()
            rich.append(np.concatenate([m.mean(1), m.std(1)]))
            y.append(gi)
    return np.array(simple), np.array(rich), np.array(y)


def test_no_single_statistic_separates_the_genres_yet_they_are_learnable():
    """Logistic regression on [true tempo, RMS, centroid, ZCR] stays <= 70 % (chance 10 %);
    the same model on log-mel band statistics does much better."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    simple, rich, y = _clip_table()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    simple_acc = cross_val_score(clf, simple, y, cv=cv).mean()
    rich_acc = cross_val_score(clf, rich, y, cv=cv).mean()
    print(f"simple features {simple_acc:.3f}, log-mel statistics {rich_acc:.3f}")
    assert simple_acc <= 0.70
    assert rich_acc >= 0.75 and rich_acc > simple_acc + 0.15
