import numpy as np
import pytest

from graham.audio import fit_length, sliding_windows, window_starts
from graham.errors import ParameterError


def test_fit_length_crops_pads_and_tiles():
    y = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(y, 4, offset=3), [3, 4, 5, 6])
    np.testing.assert_array_equal(fit_length(y, 4, offset=99), [6, 7, 8, 9])
    np.testing.assert_array_equal(fit_length(y[:3], 5), [0, 1, 2, 0, 0])
    np.testing.assert_array_equal(fit_length(y[:3], 7, short="tile"), [0, 1, 2, 0, 1, 2, 0])
    assert fit_length(y[:0], 4).shape == (4,)
    with pytest.raises(ParameterError):
        fit_length(y, 4, short="wrap")


def test_sliding_windows_cover_the_whole_signal_and_end_flush():
    y = np.arange(100, dtype=np.float32)
    w = sliding_windows(y, 30, 20)
    assert w.shape == (5, 30)
    np.testing.assert_array_equal(w[:, 0], [0, 20, 40, 60, 70])
    assert w[-1, -1] == 99
    covered = np.zeros(100, bool)
    for s in window_starts(100, 30, 20):
        covered[s:s + 30] = True
    assert covered.all()


def test_short_signal_gives_one_padded_or_tiled_window():
    y = np.ones(7, np.float32)
    assert sliding_windows(y, 10).shape == (1, 10)
    assert sliding_windows(y, 10, short="tile").min() == 1.0
    assert sliding_windows(np.ones(30, np.float32), 30, 10).shape == (1, 30)


def test_long_song_window_count():
    sr = 100
    y = np.zeros(5 * 60 * sr, np.float32)  # a 5-min "song"
    w = sliding_windows(y, 30 * sr, 15 * sr)
    assert w.shape == (19, 3000)
    with pytest.raises(ParameterError):
        sliding_windows(y, 0)


def test_windows_of_a_log_mel_are_its_frames_cut_like_samples():
    """One window cutter for samples and log-mels: each window of a (n_mels, frames) array is
    the frames a plain loop over window_starts takes, a short one tiled."""
    from graham.audio.windows import mel_windows

    mel = np.arange(3 * 50, dtype=np.float32).reshape(3, 50)
    w, starts = mel_windows(mel, 20, 7)
    assert list(starts) == [0, 7, 14, 21, 28, 30] and w.shape == (6, 3, 20)
    for k, s in enumerate(starts):
        np.testing.assert_array_equal(w[k], mel[:, s:s + 20])
    short, starts = mel_windows(mel[:, :8], 20, 10)
    assert list(starts) == [0] and short.shape == (1, 3, 20)
    np.testing.assert_array_equal(short[0], np.tile(mel[:, :8], (1, 3))[:, :20])
