"""The emulated sensors' values: a deterministic 1-second series per sensor, its aggregates.

Every sensor of :class:`~awiml.testing.O2AServer` has one value per second of its
``firstDate``..``lastDate``, a pure function of (sensor, second):

* outside its *windows*, a synthetic signal ``level + sum_k A_k sin(2 pi t / P_k + phi_k)``
  with integer periods ``P_k`` in seconds (a year, a day, a tide, and a few short
  incommensurate periods that look like noise), phases drawn from the sensor's code;
* inside a *window*, a recorded series: a step function of real hourly means (the real
  rows are then the exact hourly means), or a linear interpolation of a real 10-minute
  series plus small sinusoidal "noise" (the Polarstern thermosalinograph during PS103).

Means are computed from the 1-second series in closed form: a sinusoid summed over
``n`` consecutive integer seconds is ``sin(theta + (n-1) d/2) sin(n d/2) / sin(d/2)``,
and a step or linear series sums through its prefix sums at the knots. So an hour bin
costs a handful of sines however many seconds it holds, and a bin's value depends
only on the bin: any sub-range of one request equals the same rows of a longer one.
The other functions (min, max, median, std) evaluate the seconds of each bin.

:func:`format_columns` writes the table with NumPy alone (fixed-width byte matrices
whose padding is removed at the end), because the answers can hold millions of cells.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "AGGREGATES",
    "FUNCTIONS",
    "Sensor",
    "Signal",
    "Window",
    "aggregate",
    "format_columns",
    "quality_flags",
]

#: Width in seconds of the bins of each aggregate the service knows.
AGGREGATES = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

#: The aggregate functions the service knows (upper case, as sent).
FUNCTIONS = ("MEAN", "MIN", "MAX", "MEDIAN", "STD", "COUNT")

_YEAR = 31_556_952  # seconds in a mean Gregorian year
_NOISE_PERIODS = (37, 311, 1931, 7919, 44_701)
_BLOCK = 1 << 21  # seconds evaluated at once by the non-mean functions
_TABULATED = 86_400  # terms of periods up to this are looked up in a table


@functools.lru_cache(maxsize=256)
def _table(amplitude: float, period: int, phase: float) -> np.ndarray:
    """Return one period of ``amplitude * sin(2 pi k / period + phase)``, k = 0..period-1."""
    table = amplitude * np.sin(2 * np.pi * np.arange(period) / period + phase)
    table.flags.writeable = False
    return table


def _seed(text: str) -> int:
    """Return a stable 64-bit seed for ``text`` (not Python's salted ``hash``)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


@dataclass(frozen=True)
class Signal:
    """``level + sum_k amplitudes[k] * sin(2 pi t / periods[k] + phases[k])``, t in seconds."""

    level: float
    amplitudes: tuple[float, ...]
    periods: tuple[int, ...]
    phases: tuple[float, ...]

    @classmethod
    def synthetic(
        cls, code: str, level: float, annual: float, daily: float, noise: float
    ) -> Signal:
        """Build the signal of sensor ``code``: seasons, a day, a tide and noise-like wiggles."""
        rng = np.random.default_rng(_seed(code))
        periods = (_YEAR, 86_400, 44_714, *_NOISE_PERIODS)
        weights = (annual, daily, daily / 3, *(noise * w for w in (0.5, 0.4, 0.6, 0.5, 0.7)))
        phases = tuple(float(p) for p in rng.uniform(0, 2 * np.pi, len(periods)))
        return cls(float(level), tuple(float(w) for w in weights), periods, phases)

    def _terms(self) -> zip[tuple[float, int, float]]:
        return zip(self.amplitudes, self.periods, self.phases, strict=True)

    def values(self, t: np.ndarray) -> np.ndarray:
        """Return the signal at the integer seconds ``t`` (int64 array).

        Terms of periods up to a day are looked up in a table of one period.
        """
        out = np.full(t.shape, self.level, dtype=np.float64)
        for amplitude, period, phase in self._terms():
            if not amplitude:
                continue
            if period <= _TABULATED:
                out += _table(amplitude, period, phase)[t % period]
            else:
                out += amplitude * np.sin(2 * np.pi * (t % period) / period + phase)
        return out

    def sums(self, start: np.ndarray, count: np.ndarray) -> np.ndarray:
        """Return the sums over the ``count`` seconds from ``start`` (0 where count is 0)."""
        n = count.astype(np.float64)
        out = self.level * n
        if not len(count):
            return out
        usual = count.max()  # most bins hold the same number of seconds
        odd = np.flatnonzero(count != usual)
        for amplitude, period, phase in self._terms():
            if not amplitude:
                continue
            step = 2 * np.pi / period
            # sum_j sin(theta + j step) = sin(centre) sin(n step / 2) / sin(step / 2)
            ratio = np.full(n.shape, np.sin(usual * step / 2) / np.sin(step / 2))
            ratio[odd] = np.sin(n[odd] * step / 2) / np.sin(step / 2)
            if period <= _TABULATED:  # the centre in half seconds, looked up
                centre = _table(1.0, 2 * period, phase)[(2 * start + count - 1) % (2 * period)]
            else:
                centre = np.sin(step * ((start % period) + (n - 1) / 2) + phase)
            out += amplitude * centre * ratio
        return np.where(count > 0, out, 0.0)


@dataclass(frozen=True)
class Window:
    """A recorded stretch ``[start, end)`` (seconds since 1970) that replaces the signal.

    ``knots`` are the values at ``start, start + step, ...``; ``linear`` interpolates
    between them, otherwise each knot holds for its ``step`` seconds. ``noise`` is
    added inside the window (its level should be 0).
    """

    start: int
    step: int
    knots: np.ndarray
    linear: bool = False
    noise: Signal | None = None
    flag: int = 0
    _prefix: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        knots = np.asarray(self.knots, dtype=np.float64)
        object.__setattr__(self, "knots", knots)
        if self.linear:
            nxt = np.append(knots[1:], knots[-1])
            per_segment = self.step * knots + (nxt - knots) * (self.step - 1) / 2
        else:
            per_segment = self.step * knots
        object.__setattr__(self, "_prefix", np.concatenate([[0.0], np.cumsum(per_segment)]))

    @property
    def end(self) -> int:
        """First second after the window."""
        return self.start + self.step * (len(self.knots) - (1 if self.linear else 0))

    def _base_prefix(self, t: np.ndarray) -> np.ndarray:
        """Sum of the recorded base over ``[start, t)`` for ``start <= t <= end``."""
        offset = t - self.start
        index = np.minimum(offset // self.step, len(self.knots) - 1)
        within = (offset - index * self.step).astype(np.float64)
        y = self.knots[index]
        out = self._prefix[index] + within * y
        if self.linear:
            nxt = self.knots[np.minimum(index + 1, len(self.knots) - 1)]
            out += (nxt - y) / self.step * within * (within - 1) / 2
        return out

    def sums(self, start: np.ndarray, count: np.ndarray) -> np.ndarray:
        """Return the sums over ``[start, start + count)``, which must lie inside the window."""
        total = self._base_prefix(start + count) - self._base_prefix(start)
        if self.noise is not None:
            total = total + self.noise.sums(start, count)
        return np.where(count > 0, total, 0.0)

    def values(self, t: np.ndarray) -> np.ndarray:
        """Values at seconds ``t`` inside the window."""
        offset = t - self.start
        index = np.minimum(offset // self.step, len(self.knots) - 1)
        y = self.knots[index]
        if self.linear:
            nxt = self.knots[np.minimum(index + 1, len(self.knots) - 1)]
            y = y + (nxt - y) * (offset - index * self.step) / self.step
        if self.noise is not None:
            y = y + self.noise.values(t)
        return y


@dataclass(frozen=True)
class Sensor:
    """One sensor of the data service: its entry and its 1-second series.

    ``first`` and ``last`` are seconds since 1970 (both inclusive); ``entry`` is the
    sensor's answer in ``/sensors`` apart from the fields computed from the series.
    """

    code: str
    unit: str
    first: int
    last: int
    signal: Signal
    windows: tuple[Window, ...] = ()
    entry: dict = field(default_factory=dict, compare=False)

    def values(self, t: np.ndarray) -> np.ndarray:
        """Values at seconds ``t`` (NaN outside ``first..last``)."""
        out = self.signal.values(t)
        for window in self.windows:
            inside = (t >= window.start) & (t < window.end)
            if inside.any():
                out[inside] = window.values(t[inside])
        out[(t < self.first) | (t > self.last)] = np.nan
        return out

    def sums(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Return the sums over the seconds ``[lo, hi)`` (``lo <= hi``, in ``first..last``)."""
        total = self.signal.sums(lo, hi - lo)
        for window in self.windows:
            touched = np.flatnonzero((lo < window.end) & (hi > window.start))
            if not len(touched):
                continue
            a = np.clip(lo[touched], window.start, window.end)
            b = np.clip(hi[touched], window.start, window.end)
            recorded = window.sums(a, b - a)
            whole = (a == lo[touched]) & (b == hi[touched])
            replaced = total[touched] - self.signal.sums(a, b - a) + recorded
            total[touched] = np.where(whole, recorded, replaced)
        return total

    def in_window(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Whether each span ``[lo, hi)`` touches a recorded window."""
        hit = np.zeros(lo.shape, dtype=bool)
        for window in self.windows:
            hit |= (lo < window.end) & (hi > window.start)
        return hit


def _spans(sensor: Sensor, labels: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the seconds ``[lo, hi)`` of each bin the sensor covers (hi == lo: none)."""
    lo = np.maximum(labels, sensor.first)
    hi = np.minimum(labels + width, sensor.last + 1)
    return lo, np.maximum(hi, lo)


def aggregate(sensor: Sensor, labels: np.ndarray, width: int, function: str) -> np.ndarray:
    """Return ``function`` of the sensor's seconds in each bin ``[label, label + width)``.

    Parameters
    ----------
    sensor : Sensor
        Whose series.
    labels : numpy.ndarray
        Bin starts, seconds since 1970 (int64).
    width : int
        Bin width in seconds.
    function : str
        One of :data:`FUNCTIONS`.

    Returns
    -------
    numpy.ndarray
        float64, NaN where the bin holds none of the sensor's seconds (and for
        ``STD`` of a single second: the sample standard deviation, ``ddof=1``).
    """
    lo, hi = _spans(sensor, labels, width)
    count = hi - lo
    if function == "COUNT":
        return np.where(count > 0, count, np.nan).astype(np.float64)
    if function == "MEAN":
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, sensor.sums(lo, hi) / np.maximum(count, 1), np.nan)
    out = np.full(labels.shape, np.nan)
    rows_per_block = max(1, _BLOCK // width)
    offsets = np.arange(width, dtype=np.int64)
    for begin in range(0, len(labels), rows_per_block):
        block = slice(begin, begin + rows_per_block)
        keep = count[block] > 0
        if not keep.any():
            continue
        seconds = labels[block][keep, None] + offsets[None, :]
        values = sensor.values(seconds.ravel()).reshape(seconds.shape)
        out[np.flatnonzero(keep) + begin] = _reduce(values, function)
    return out


def _reduce(values: np.ndarray, function: str) -> np.ndarray:
    """Reduce each row of ``values`` (NaN: no value) with ``function``."""
    gaps = np.isnan(values).any(axis=1)  # decided per bin, so a bin's value never
    full = values[~gaps]  # depends on the other bins of the request
    out = np.empty(len(values))
    if function == "STD":
        with np.errstate(invalid="ignore", divide="ignore"), _quiet_nan_warnings():
            out[~gaps] = full.std(axis=1, ddof=1)
    else:
        out[~gaps] = {"MIN": np.min, "MAX": np.max, "MEDIAN": np.median}[function](full, axis=1)
    if gaps.any():
        nan_reducer = {
            "MIN": np.nanmin,
            "MAX": np.nanmax,
            "MEDIAN": np.nanmedian,
            "STD": lambda a, axis: np.nanstd(a, axis=axis, ddof=1),
        }[function]
        with np.errstate(invalid="ignore", divide="ignore"), _quiet_nan_warnings():
            out[gaps] = nan_reducer(values[gaps], axis=1)
    return out


class _quiet_nan_warnings:
    """Silence NumPy's "All-NaN slice" and "Degrees of freedom" warnings in a block."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)


def quality_flags(sensor: Sensor, labels: np.ndarray, width: int) -> np.ndarray:
    """Return the quality flag (0..4) of each bin; -1 where the sensor has no value.

    Bins that touch a recorded window carry that window's flag (0, "not checked",
    for real rows); the others a deterministic pseudo-random flag, mostly 1 (good).
    """
    lo, hi = _spans(sensor, labels, width)
    mixed = _splitmix(labels.astype(np.uint64) * np.uint64(2654435761) + np.uint64(width))
    mixed = _splitmix(mixed ^ np.uint64(_seed(sensor.code)))
    draw = (mixed % np.uint64(1000)).astype(np.int64)
    flags = np.select([draw < 900, draw < 960, draw < 990], [1, 2, 3], 4)
    for window in sensor.windows:
        touched = (lo < window.end) & (hi > window.start)
        flags = np.where(touched, window.flag, flags)
    return np.where(hi > lo, flags, -1)


def _splitmix(x: np.ndarray) -> np.ndarray:
    """Apply the splitmix64 finaliser, element-wise on uint64 (wrapping arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


# --------------------------------------------------------------------------- #
# Writing the table
# --------------------------------------------------------------------------- #

_INT_DIGITS = 9  # values below 1e9 in magnitude take the fast path (exact in float64)


def _fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    """Format ``values`` as ``%.{decimals}f`` into a zero-padded, right-aligned byte matrix.

    NaN gives an empty field (all padding); halves round away from zero. Magnitudes of
    ``1e9`` and more are formatted one by one with Python (never in the emulator's own
    series).
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    largest = float(np.abs(values[finite]).max()) if finite.any() else 0.0
    if largest >= 10.0**_INT_DIGITS:
        text = [f"{v:.{decimals}f}" if np.isfinite(v) else "" for v in values.tolist()]
        longest = max(len(s) for s in text)
        padded = np.array([s.rjust(longest, "\0") for s in text], dtype=f"S{longest}")
        return padded.view(np.uint8).reshape(len(values), longest)
    number = np.floor(np.abs(np.where(finite, values, 0.0)) * 10.0**decimals + 0.5)
    number = number.astype(np.int64)
    int_digits = len(str(int(number.max()) // 10**decimals)) if len(number) else 1
    width = 1 + int_digits + (decimals + 1 if decimals else 0)
    negative = np.signbit(values) & finite
    out = np.zeros((len(values), width), dtype=np.uint8)
    remaining = number.copy()
    digits = np.ones(len(values), dtype=np.int64)  # integer digits shown
    column = width - 1
    for position in range(int_digits + decimals):
        digit = (remaining % 10).astype(np.uint8) + ord("0")
        remaining //= 10
        if position <= decimals:  # the decimals and the units digit always show
            shown = finite
        else:
            shown = finite & (number >= 10**position)
            digits += shown
        out[:, column] = np.where(shown, digit, 0)
        column -= 1
        if decimals and position == decimals - 1:
            out[:, column] = np.where(finite, ord("."), 0)
            column -= 1
    if negative.any():
        sign_column = width - 1 - decimals - (1 if decimals else 0) - digits
        rows = np.flatnonzero(negative)
        out[rows, sign_column[rows]] = ord("-")
    return out


def format_columns(
    times: np.ndarray, columns: Sequence[tuple[np.ndarray, int]], header: str
) -> bytes:
    r"""Write a tab-separated table: header line, then ``YYYY-MM-DD HH:MM:SS<TAB>v...``.

    Parameters
    ----------
    times : numpy.ndarray
        Row times, seconds since 1970 (int64).
    columns : sequence of (numpy.ndarray, int)
        Each column's values (float, NaN for an empty field) and its number of decimals.
    header : str
        The header line, without its line end.

    Returns
    -------
    bytes
        UTF-8, LF line ends, a final LF.

    Examples
    --------
    >>> import numpy as np
    >>> format_columns(np.array([0, 60]), [(np.array([1.5, np.nan]), 6)], "datetime\tx")
    b'datetime\tx\n1970-01-01 00:00:00\t1.500000\n1970-01-01 00:01:00\t\n'
    """
    head = (header + "\n").encode("utf-8")
    n = len(times)
    if n == 0:
        return head
    parts = [_timestamps(np.asarray(times, dtype=np.int64))]
    tab = np.full((n, 1), ord("\t"), dtype=np.uint8)
    for values, decimals in columns:
        parts += [tab, _fixed(values, decimals)]
    parts.append(np.full((n, 1), ord("\n"), dtype=np.uint8))
    table = np.concatenate(parts, axis=1).ravel()
    return head + table[table != 0].tobytes()


def _timestamps(times: np.ndarray) -> np.ndarray:
    """Format seconds since 1970 as ``YYYY-MM-DD HH:MM:SS`` rows of a byte matrix.

    The civil date comes from Howard Hinnant's ``civil_from_days``, vectorised, which
    is several times faster than :func:`numpy.datetime_as_string`. Years 0..9999.
    """
    days, seconds = np.divmod(times, 86_400)
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    hour, rest = np.divmod(seconds, 3600)
    minute, second = np.divmod(rest, 60)
    out = np.empty((len(times), 19), dtype=np.uint8)
    out[:, [4, 7]] = ord("-")
    out[:, 10] = ord(" ")
    out[:, [13, 16]] = ord(":")
    for number, first, width in (
        (year, 0, 4), (month, 5, 2), (day, 8, 2), (hour, 11, 2), (minute, 14, 2), (second, 17, 2)
    ):
        for column in range(first + width - 1, first - 1, -1):
            number, digit = np.divmod(number, 10)
            out[:, column] = digit + ord("0")
    return out
