"""A mergeable latency sketch with a guaranteed relative error (the DDSketch idea, in numpy).

A latency x > 0 falls in bucket i = ceil(log(x) / log(gamma)) with gamma = (1 + a) / (1 - a); every
value of bucket i lies in (gamma^(i-1), gamma^i], and answering 2 * gamma^i / (gamma + 1) for it is
within a relative error `a` of the truth. Sketches add bucket by bucket, so a day is the sum of its
minutes and any percentile (or the share slower than any threshold) can be asked afterwards.

Why numpy and not the `ddsketch` package: ingest has to place ~200,000 samples a second into
buckets grouped by minute and route. ddsketch adds values one Python call at a time (~1 µs each),
while here a whole batch is one `np.log` and one `np.bincount`. The bucket layout is the same.
"""

import math
import struct

import numpy as np

RELATIVE_ACCURACY = 0.01
GAMMA = (1 + RELATIVE_ACCURACY) / (1 - RELATIVE_ACCURACY)
LOG_GAMMA = math.log(GAMMA)
# Below a microsecond a latency is noise: it is counted in the zero bucket and answered as 0.
MIN_MS = 1e-3
# Above a day a "latency" is a hung request; it is kept in the top bucket (answered as ~1 day).
MAX_MS = 86_400_000.0
FIRST_INDEX = math.ceil(math.log(MIN_MS) / LOG_GAMMA) - 1  # the zero bucket
LAST_INDEX = math.ceil(math.log(MAX_MS) / LOG_GAMMA)
SIZE = LAST_INDEX - FIRST_INDEX + 1

_HEADER = struct.Struct("<cH")  # format, number of stored buckets (or offset for dense)


def bucket_positions(latencies_ms: np.ndarray) -> np.ndarray:
    """The position (0..SIZE-1) of each latency's bucket in a dense sketch array."""
    values = np.asarray(latencies_ms, dtype=np.float64)
    with np.errstate(divide="ignore"):
        idx = np.ceil(np.log(np.clip(values, MIN_MS, MAX_MS)) / LOG_GAMMA)
    positions = idx.astype(np.int64) - FIRST_INDEX
    positions[values < MIN_MS] = 0
    return positions


def bucket_values() -> np.ndarray:
    """The value answered for each position: the bucket's midpoint in relative terms."""
    idx = np.arange(FIRST_INDEX, LAST_INDEX + 1, dtype=np.float64)
    values = 2 * np.power(GAMMA, idx) / (GAMMA + 1)
    values[0] = 0.0
    return values


BUCKET_VALUES = bucket_values()


def empty() -> np.ndarray:
    return np.zeros(SIZE, dtype=np.int64)


def from_latencies(latencies_ms) -> np.ndarray:
    """A dense sketch (bucket counts) of the given latencies."""
    return np.bincount(bucket_positions(latencies_ms), minlength=SIZE).astype(np.int64)


def quantile(counts: np.ndarray, q: float) -> float | None:
    """The q-quantile (0..1) of a dense sketch, or None when it is empty.

    The value at the higher of the two ranks around q * (n - 1), as numpy's method="higher": the
    lower one made the p99 of a few requests their median, below their mean.
    """
    total = int(counts.sum())
    if total == 0:
        return None
    rank = math.ceil(q * (total - 1))
    position = int(np.searchsorted(np.cumsum(counts), rank, side="right"))
    return float(BUCKET_VALUES[min(position, SIZE - 1)])


def count_above(counts: np.ndarray, threshold_ms: float) -> int:
    """How many values are slower than `threshold_ms` (to the sketch's accuracy)."""
    cut = int(np.searchsorted(BUCKET_VALUES, threshold_ms, side="right"))
    return int(counts[cut:].sum())


def encode(counts: np.ndarray) -> bytes:
    """Compact bytes for storage: the non-empty span densely, or index/count pairs, whichever is smaller."""
    nonzero = np.flatnonzero(counts)
    if nonzero.size == 0:
        return b""
    wide = counts[nonzero].max() > np.iinfo(np.uint32).max
    dtype = np.uint64 if wide else np.uint32
    lo, hi = int(nonzero[0]), int(nonzero[-1])
    dense_size = (hi - lo + 1) * dtype().itemsize
    sparse_size = nonzero.size * (2 + dtype().itemsize)
    if dense_size <= sparse_size:
        kind = b"D" if not wide else b"E"
        return _HEADER.pack(kind, lo) + counts[lo : hi + 1].astype(dtype).tobytes()
    kind = b"S" if not wide else b"T"
    return (
        _HEADER.pack(kind, nonzero.size) + nonzero.astype(np.uint16).tobytes() + counts[nonzero].astype(dtype).tobytes()
    )


def encode_few(counts: np.ndarray) -> bytes:
    """Like `encode`, but for a handful of values (a batch's part of one minute, see RollupPart) each
    value's bucket in order, as one-byte steps from the first, when that is smaller: ~1 byte a value
    where the sparse form takes 6 a bucket. Parts are written on every batch and read rarely."""
    other = encode(counts)
    n = int(counts.sum())
    if not other or n > np.iinfo(np.uint16).max:
        return other
    positions = np.repeat(np.arange(counts.size), counts)
    steps = np.diff(positions)
    if steps.size and steps.max() > np.iinfo(np.uint8).max:
        return other
    few = _HEADER.pack(b"P", n) + np.uint16(positions[0]).tobytes() + steps.astype(np.uint8).tobytes()
    return few if len(few) < len(other) else other


def decode_into(data: bytes | memoryview, out: np.ndarray) -> np.ndarray:
    """Add the stored sketch `data` into the dense array `out` (and return it)."""
    if not data:
        return out
    data = bytes(data)
    kind, n = _HEADER.unpack_from(data)
    body = memoryview(data)[_HEADER.size :]
    dtype = np.uint32 if kind in (b"D", b"S") else np.uint64
    if kind == b"P":
        first = int(np.frombuffer(body[:2], dtype=np.uint16)[0])
        steps = np.frombuffer(body[2:], dtype=np.uint8).astype(np.int64)
        np.add.at(out, first + np.concatenate(([0], np.cumsum(steps))), 1)
    elif kind in (b"D", b"E"):
        values = np.frombuffer(body, dtype=dtype)
        out[n : n + values.size] += values.astype(np.int64)
    elif kind in (b"S", b"T"):
        positions = np.frombuffer(body[: 2 * n], dtype=np.uint16)
        out[positions] += np.frombuffer(body[2 * n :], dtype=dtype).astype(np.int64)
    else:
        raise ValueError(f"unknown sketch format {kind!r}")
    return out


def decode(data: bytes) -> np.ndarray:
    return decode_into(data, empty())
