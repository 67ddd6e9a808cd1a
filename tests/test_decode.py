import numpy as np
import pytest

from graham.audio import audio_info, load_audio, resample, to_mono
from graham.errors import AudioError, ParameterError

from tiny import tone, write

FORMATS = [("wav", "WAV", "PCM_16", 22050), ("flac", "FLAC", "PCM_16", 22050), ("ogg", "OGG", "VORBIS", 22050),
           ("opus", "OGG", "OPUS", 48000), ("mp3", "MP3", "MPEG_LAYER_III", 44100), ("au", "AU", "PCM_16", 22050),
           ("aiff", "AIFF", "PCM_16", 44100)]


@pytest.mark.parametrize("ext,fmt,subtype,sr", FORMATS)
def test_decodes_every_libsndfile_format_to_22050_mono(tmp_path, ext, fmt, subtype, sr):
    y = tone(1.0, sr=sr, freq=440)
    p = write(tmp_path / f"a.{ext}", np.stack([y, y], 1), sr, format=fmt, subtype=subtype)
    out = load_audio(p, sr=22050)
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.shape[0] - 22050) < 22050 * 0.03  # codecs may pad a few frames
    spec = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spec) * 22050 / out.shape[0] - 440) < 5  # the tone survives decoding and resampling


def test_downmix_averages_channels(tmp_path):
    left, right = tone(0.5, freq=440), np.zeros(11025, np.float32)
    p = write(tmp_path / "st.wav", np.stack([left, right], 1), subtype="FLOAT")
    np.testing.assert_allclose(load_audio(p), left / 2, atol=1e-6)
    assert to_mono(np.ones((4, 1), np.float32)).shape == (4,)


def test_resample_changes_length_and_keeps_pitch():
    y = tone(1.0, sr=44100, freq=1000)
    out = resample(y, 44100, 22050)
    assert out.shape[0] == 22050
    assert abs(np.argmax(np.abs(np.fft.rfft(out))) - 1000) <= 1
    with pytest.raises(ParameterError):
        resample(y, 0, 22050)


def test_keep_native_rate_and_offset_duration(tmp_path):
    y = np.arange(44100, dtype=np.float32) / 44100
    p = write(tmp_path / "ramp.wav", y, 44100, subtype="FLOAT")
    out = load_audio(p, sr=None, offset=0.5, duration=0.25)
    assert out.shape[0] == 11025
    assert out[0] == pytest.approx(0.5, abs=1e-4)


def test_missing_empty_and_non_audio_files_raise_audio_error_naming_the_file(tmp_path):
    with pytest.raises(AudioError, match="no such file"):
        load_audio(tmp_path / "nope.wav")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match=r"empty\.wav: empty file"):
        load_audio(empty)
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio at all\n" * 50)
    with pytest.raises(AudioError, match=r"notes\.mp3: not decodable audio"):
        load_audio(text)
    with pytest.raises(AudioError, match="not decodable"):
        audio_info(text)
    with pytest.raises(AudioError, match="not a regular file"):
        load_audio(tmp_path)


def test_truncated_wav_decodes_what_is_there_and_truncated_flac_is_an_error(tmp_path):
    y = tone(2.0)
    wav = write(tmp_path / "t.wav", y)
    data = wav.read_bytes()
    wav.write_bytes(data[: len(data) // 2])
    out = load_audio(wav)
    assert 0.4 * y.shape[0] < out.shape[0] < 0.6 * y.shape[0]
    np.testing.assert_allclose(out, y[: out.shape[0]], atol=1e-4)
    flac = write(tmp_path / "t.flac", y, format="FLAC")
    data = flac.read_bytes()
    flac.write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioError, match=r"t\.flac"):
        load_audio(flac)
    header_only = tmp_path / "h.wav"
    header_only.write_bytes(data[:30])
    with pytest.raises(AudioError):
        load_audio(header_only)


def test_zero_length_and_non_finite_audio_are_errors(tmp_path):
    z = write(tmp_path / "z.wav", np.zeros(0, np.float32))
    with pytest.raises(AudioError, match="zero-length"):
        load_audio(z)
    bad = np.array([0.0, np.nan, 0.1, np.inf] * 100, np.float32)
    n = write(tmp_path / "n.wav", bad, subtype="FLOAT")
    with pytest.raises(AudioError, match="NaN or infinite"):
        load_audio(n)


def test_silence_is_returned_as_is(tmp_path):
    s = write(tmp_path / "s.wav", np.zeros(22050, np.float32))
    out = load_audio(s)
    assert out.shape == (22050,) and not out.any()


def test_bad_parameters():
    with pytest.raises(ParameterError):
        load_audio("x.wav", sr=0)
    with pytest.raises(ParameterError):
        load_audio("x.wav", offset=-1)


def test_random_bytes_are_called_an_unknown_format_not_a_missing_file(tmp_path):
    import os as _os

    from graham.audio.decode import load_audio
    from graham.errors import AudioError

    p = tmp_path / "noise.wav"
    p.write_bytes(_os.urandom(4096))
    with pytest.raises(AudioError) as info:
        load_audio(p)
    assert "does not exist" not in str(info.value) and str(p) in str(info.value)


def test_written_files_follow_the_umask(tmp_path):
    import os as _os
    import stat

    from graham.utils.files import write_text

    write_text(tmp_path / "a.txt", "x")
    mask = _os.umask(0o022)
    _os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o666 & ~mask


_MPEG_SCRIPT = r"""
import logging, sys, threading, time
logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="LOG %(message)s")
from graham.audio import load_audio
from graham.errors import AudioError
stop = threading.Event()
def chatter():  # another thread writing to stderr meanwhile (a progress bar, say)
    while not stop.is_set():
        sys.stderr.write("progress-marker\n"); sys.stderr.flush(); time.sleep(0.001)
t = threading.Thread(target=chatter); t.start()
for path in sys.argv[1:]:
    try:
        print("OK", path, load_audio(path).shape[0])
    except AudioError as exc:
        print("ERR", exc)
stop.set(); t.join()
"""


@pytest.mark.skipif("MP3" not in __import__("soundfile").available_formats(), reason="libsndfile without MP3")
def test_mp3_decoder_messages_reach_the_report_not_stderr(tmp_path):
    """libmpg123 prints 'Illegal Audio-MPEG-Header' on fd 2 by itself: a damaged MP3 must be
    reported by name with the decoder's reason, one read past damage logged, and nothing raw on
    stderr; what another thread writes there meanwhile must still come out."""
    import subprocess
    import sys

    import soundfile as sf

    clean = tmp_path / "clean.mp3"
    sf.write(str(clean), tone(3.0), 22050, format="MP3")
    raw = bytearray(clean.read_bytes())
    rng = np.random.default_rng(0)
    broken, scratched = bytearray(raw), bytearray(raw)
    broken[1500:3000] = rng.integers(0, 256, 1500, dtype=np.uint8).tobytes()
    scratched[1500:1600] = np.random.default_rng(1).integers(0, 256, 100, dtype=np.uint8).tobytes()
    (tmp_path / "broken.mp3").write_bytes(bytes(broken))
    (tmp_path / "scratched.mp3").write_bytes(bytes(scratched))
    files = [str(tmp_path / n) for n in ("broken.mp3", "scratched.mp3", "clean.mp3")]
    r = subprocess.run([sys.executable, "-c", _MPEG_SCRIPT, *files], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for raw_line in ("Illegal Audio-MPEG-Header", "libmpg123", "resync", "Note:"):
        assert raw_line not in r.stderr
    assert "progress-marker" in r.stderr
    out = r.stdout
    assert f"ERR {files[0]}: not decodable audio (damaged MPEG stream: " in out
    assert f"LOG {files[1]}: decoded past damaged data" in out and f"OK {files[1]}" in out
    assert f"OK {files[2]} 66150" in out
