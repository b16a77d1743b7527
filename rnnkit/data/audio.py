r"""Audio in, log-mel features out: reading, mixing down, resampling, filterbanks, SpecAugment.

Every waveform rnnkit hands to a model is mono float32 at ``SAMPLE_RATE`` (16 kHz) in [-1, 1]:
``read_audio`` reads any file ``soundfile`` (libsndfile) reads (WAV, FLAC, OGG/Vorbis...),
averages the channels and resamples with a polyphase windowed-sinc filter
(``scipy.signal.resample_poly``, a Kaiser-windowed FIR low-pass at the lower Nyquist rate).

Log-mel filterbank (``log_mel``), for a signal x at 16 kHz, window ``WIN`` = 400 samples
(25 ms), hop ``HOP`` = 160 (10 ms), periodic Hann window w, ``N_FFT`` = 512 (the 400 windowed
samples zero-padded)::

    X_t[k]  = sum_{n<400} w[n] x[t*HOP + n] e^{-2 pi i k n / N_FFT},  k = 0..N_FFT/2
    P_t[k]  = |X_t[k]|^2                                 power spectrum, T = 1 + (N - WIN) // HOP
    M_t[m]  = sum_k A[m, k] P_t[k]                        A: mel_matrix, triangular filters
    F_t[m]  = log(M_t[m] + 1e-6)

The mel scale is HTK's, mel(f) = 2595 log10(1 + f / 700); filter m rises linearly from mel
point m to m+1 and falls to m+2, with ``n_mels + 2`` points evenly spaced in mel between
``F_MIN`` and ``sample_rate / 2``. A signal shorter than one window is zero-padded to one.

Per-utterance normalisation (``normalise``) makes each band zero-mean, unit-variance over the
utterance's frames (cepstral mean and variance normalisation applied to log-mels), so loudness
and channel differences between recordings drop out.

SpecAugment (Park et al. 2019, ``spec_augment``) sets ``freq_masks`` bands of random width in
[0, ``freq_width``] and ``time_masks`` spans of random width in [0, min(``time_width``, p*T)] to
zero (the mean, after normalisation) in every training utterance.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.text import input_file
from rnnkit.errors import RnnkitError

SAMPLE_RATE = 16_000
WIN = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms at 16 kHz
N_FFT = 512
F_MIN = 20.0
LOG_FLOOR = 1e-6
MAX_FILE_SECONDS = 3600.0  # longest file read at all: an hour is 230 MB of float32
MIN_RATE = 1000  # Hz: slower "audio" files are refused, not resampled
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au")


def read_audio(
    path: str | Path, sample_rate: int = SAMPLE_RATE, max_seconds: float = MAX_FILE_SECONDS
) -> np.ndarray:
    """Mono float32 samples of ``path`` at ``sample_rate``: (N,).

    Stereo (any channel count) is averaged; other rates are resampled. A file that is not
    audio, holds no samples, holds NaN/inf, or is longer than ``max_seconds`` is refused with
    an RnnkitError that names it.
    """
    import soundfile as sf

    path = Path(path)
    input_file(path, "audio file")  # a device (/dev/zero) is refused, not read for ever
    try:
        with quiet_decoders():
            info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError, TypeError):
        raise RnnkitError(
            f"{path}: not an audio file soundfile can read (WAV, FLAC, OGG...)"
        ) from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise RnnkitError(f"{path}: holds no audio (0 s)")
    if info.samplerate < MIN_RATE:  # 3000 samples at 1 Hz took 12 s to resample to 16 kHz
        raise RnnkitError(
            f"{path}: a sample rate of {info.samplerate} Hz is not sound (at least {MIN_RATE} Hz)"
        )
    seconds = info.frames / info.samplerate
    if seconds > max_seconds:
        raise RnnkitError(
            f"{path}: {seconds:.0f} s long; at most {max_seconds:.0f} s is read (cut it shorter)"
        )
    try:
        with quiet_decoders():
            data, rate = sf.read(str(path), dtype="float32", always_2d=True)  # (N, C)
    except (RuntimeError, sf.LibsndfileError):
        raise RnnkitError(f"{path}: the audio data is damaged and cannot be decoded") from None
    if data.shape[0] == 0:
        raise RnnkitError(f"{path}: holds no audio (0 s)")
    if not np.isfinite(data).all():
        raise RnnkitError(f"{path}: holds NaN or infinite samples")
    return resample(data.mean(axis=1), rate, sample_rate)


@contextlib.contextmanager
def quiet_decoders() -> Iterator[None]:
    """The C-level standard error silenced while libsndfile's decoders look at a file: on a
    damaged or fake file (an MP3 that is not one) they print lines of their own before the
    error that rnnkit reports in one line."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no file descriptor 2 to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def duration(path: str | Path) -> float:
    """Seconds of audio in ``path`` from its header (nothing decoded); 0 when unreadable, so
    that ``read_audio`` gives the reason."""
    import soundfile as sf

    try:
        with quiet_decoders():
            info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError, TypeError):
        return 0.0
    return info.frames / info.samplerate if info.samplerate > 0 else 0.0


def resample(x: np.ndarray, rate: int, target: int = SAMPLE_RATE) -> np.ndarray:
    """``x`` (N,) from ``rate`` to ``target`` Hz by polyphase filtering: upsample by L, low-pass
    at min(rate, target) / 2 with a Kaiser-windowed sinc (scipy's ``resample_poly``), downsample
    by M, where L / M = target / rate in lowest terms. float32 out."""
    if rate == target:
        return np.asarray(x, dtype=np.float32)
    from scipy.signal import resample_poly

    ratio = Fraction(target, rate)
    y = resample_poly(np.asarray(x, dtype=np.float64), ratio.numerator, ratio.denominator)
    return y.astype(np.float32)


def mel_matrix(n_mels: int, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> Tensor:
    """The triangular mel filterbank A: (n_mels, n_fft // 2 + 1), HTK mel scale (module doc)."""
    if not 1 <= n_mels <= n_fft // 2:
        raise RnnkitError(f"n_mels must be in [1, {n_fft // 2}], got {n_mels}")

    def mel(f: Tensor) -> Tensor:
        return 2595.0 * torch.log10(1.0 + f / 700.0)

    top = torch.tensor(sample_rate / 2, dtype=torch.float64)
    points = torch.linspace(float(mel(torch.tensor(F_MIN))), float(mel(top)), n_mels + 2)
    hz = 700.0 * (10 ** (points.double() / 2595.0) - 1.0)  # (n_mels + 2,) filter corners
    bins = torch.linspace(0, sample_rate / 2, n_fft // 2 + 1, dtype=torch.float64)  # (K,)
    lo, mid, hi = hz[:-2, None], hz[1:-1, None], hz[2:, None]  # (n_mels, 1) each
    rising = (bins[None, :] - lo) / (mid - lo)
    falling = (hi - bins[None, :]) / (hi - mid)
    return torch.clamp(torch.minimum(rising, falling), min=0.0).float()  # (n_mels, K)


_MEL_CACHE: dict[tuple[int, int], Tensor] = {}


def log_mel(x: np.ndarray | Tensor, n_mels: int = 40, sample_rate: int = SAMPLE_RATE) -> Tensor:
    """Log-mel filterbank features of a 16 kHz waveform (N,): (T, n_mels) float32, with
    T = ``num_frames(N)`` frames of 25 ms every 10 ms (module docstring)."""
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    if x.ndim != 1:
        raise RnnkitError(f"log_mel takes one mono waveform (N,), got shape {tuple(x.shape)}")
    T = num_frames(x.numel())
    # torch.stft (center=False) reads N_FFT samples a frame; the window's zero tail keeps the
    # first WIN of them, so the signal is padded for the last frame's N_FFT - WIN extra samples
    x = torch.nn.functional.pad(x, (0, HOP * (T - 1) + N_FFT - x.numel()))
    key = (n_mels, sample_rate)
    if key not in _MEL_CACHE:
        _MEL_CACHE[key] = mel_matrix(n_mels, sample_rate)
    spec = torch.stft(
        x, N_FFT, hop_length=HOP, window=_window(), center=False, return_complex=True
    )  # (K, T)
    power = spec.abs().square()  # (K, T)
    return torch.log(_MEL_CACHE[key] @ power + LOG_FLOOR).T.contiguous()  # (T, n_mels)


def _window() -> Tensor:
    """The periodic Hann window of WIN samples followed by N_FFT - WIN zeros: (N_FFT,)."""
    return torch.nn.functional.pad(torch.hann_window(WIN, periodic=True), (0, N_FFT - WIN))


def num_frames(num_samples: int) -> int:
    """Frames ``log_mel`` gives for ``num_samples`` samples: 1 + (N - WIN) // HOP, at least 1
    (a signal shorter than one window is zero-padded to one)."""
    return 1 + (max(num_samples, WIN) - WIN) // HOP


def features(x: np.ndarray, n_mels: int = 40) -> Tensor:
    """The model's input for a 16 kHz waveform (N,): normalised log-mels (T, n_mels)."""
    return normalise(log_mel(x, n_mels))


def normalise(feats: Tensor, min_std: float = 1e-2) -> Tensor:
    """Each band of ``feats`` (T, F) to zero mean and unit variance over the T frames. A band
    that barely varies (std below ``min_std`` nats: a steady tone, digital silence) is only
    centred, so that float rounding is not blown up into features."""
    mean = feats.mean(0, keepdim=True)
    std = feats.std(0, unbiased=False, keepdim=True)
    return (feats - mean) / std.clamp(min=min_std)


def spec_augment(
    x: Tensor,
    lengths: Tensor,
    freq_masks: int = 2,
    freq_width: int = 8,
    time_masks: int = 2,
    time_width: int = 20,
    max_time_fraction: float = 0.2,
    generator: torch.Generator | None = None,
) -> Tensor:
    """SpecAugment's frequency and time masks on a padded batch ``x`` (B, T, F) of normalised
    features with per-row ``lengths`` (B,): a copy with the masked cells set to 0.

    Each row gets its own masks: widths uniform in [0, width] (a time mask at most
    ``max_time_fraction`` of the row's length), starts uniform where the mask fits."""
    B, T, F = x.shape
    lengths = lengths.to(torch.long).cpu()
    keep = torch.ones(B, T, F, dtype=torch.bool)

    def draw(high: Tensor) -> Tensor:  # uniform integers in [0, high] per row, (B,)
        return (torch.rand(B, generator=generator) * (high + 1).float()).long()

    f_idx = torch.arange(F)[None, :]  # (1, F)
    for _ in range(freq_masks):
        width = draw(torch.full((B,), min(freq_width, F)))
        start = draw(F - width)
        band = (f_idx >= start[:, None]) & (f_idx < (start + width)[:, None])  # (B, F)
        keep &= ~band[:, None, :]
    t_idx = torch.arange(T)[None, :]  # (1, T)
    t_cap = torch.minimum(torch.full((B,), time_width), (lengths * max_time_fraction).long())
    for _ in range(time_masks):
        width = draw(t_cap)
        start = draw(torch.clamp(lengths - width, min=0))
        span = (t_idx >= start[:, None]) & (t_idx < (start + width)[:, None])  # (B, T)
        keep &= ~span[:, :, None]
    return x * keep.to(x.device, x.dtype)


# -- noise, for augmentation and the noisy test conditions --------------------------------------

NOISES = ("white", "pink", "brown")


def make_noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of unit-variance coloured Gaussian noise: white (flat spectrum), pink
    (power ~ 1/f) or brown (power ~ 1/f^2), shaped in the frequency domain. float32 (n,)."""
    if kind not in NOISES:
        raise RnnkitError(f"unknown noise {kind!r}; choose from {', '.join(NOISES)}")
    white = rng.standard_normal(n)
    if kind != "white":
        spectrum = np.fft.rfft(white)
        f = np.arange(len(spectrum), dtype=np.float64)
        f[0] = 1.0  # no infinite DC gain
        spectrum /= np.sqrt(f) if kind == "pink" else f  # amplitude ~ f^(-1/2) or f^(-1)
        white = np.fft.irfft(spectrum, n)
    return (white / (white.std() + 1e-12)).astype(np.float32)


def mix_at_snr(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal + g * noise`` with g chosen so that 10 log10(P_signal / P_noise) = ``snr_db``,
    both powers being mean squares over the whole clip (silences included). Peaks above 1 are
    scaled down with the whole clip (never clipped)."""
    p_signal = float(np.mean(np.square(signal, dtype=np.float64)))
    p_noise = float(np.mean(np.square(noise, dtype=np.float64))) + 1e-20
    gain = math.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))
    mixed = signal + gain * noise[: len(signal)]
    peak = float(np.abs(mixed).max(initial=0.0))
    return (mixed / peak if peak > 1 else mixed).astype(np.float32)


# -- long files -----------------------------------------------------------------------------------


def chunk(x: np.ndarray, seconds: float = 20.0, search: float = 4.0) -> list[np.ndarray]:
    """Cut a long 16 kHz waveform into pieces of at most ``seconds``, each cut made at the
    quietest 10 ms of the last ``search`` seconds before the limit (a pause, where one is), so
    that words are rarely split. A waveform no longer than ``seconds`` is one piece."""
    limit, window = int(seconds * SAMPLE_RATE), int(search * SAMPLE_RATE)
    pieces, start = [], 0
    while len(x) - start > limit:
        lo = start + limit - window
        region = x[lo : start + limit]
        frames = len(region) // HOP
        energy = np.square(region[: frames * HOP].reshape(frames, HOP)).sum(1)  # (frames,)
        cut = lo + int(np.argmin(energy)) * HOP + HOP // 2
        pieces.append(x[start:cut])
        start = cut
    pieces.append(x[start:])
    return pieces
