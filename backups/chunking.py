"""Splitting byte streams into chunks: content-defined for trees, fixed blocks for databases.

Content-defined chunking (CDC) puts boundaries where the content says so, so an inserted byte
moves one boundary and the chunks after it are stored again by reference only. A per-byte rolling
hash (gear, buzhash) in pure Python runs at a few MB/s; this chunker gets the same property at C
speed from two steps that depend only on a small window of content:

1. Each position gets a bit from its trigram (three ``bytes.translate`` tables XORed as big
   integers). A *candidate* is the point where a run of ``RUN`` one-bits completes (found with
   ``bytes.find`` — no Python loop per byte). Long runs give one candidate, not one per byte.
2. A candidate becomes a boundary when a keyed hash of the ``WINDOW`` bytes before it falls
   under a threshold, which sets the average chunk size independently of the data's alphabet.

Boundaries are only looked for between ``min_size`` and ``max_size`` from the previous boundary
(restic and borg do the same), so chunk sizes always lie in [min_size, max_size] except the last.

Database files use fixed, page-aligned blocks instead: scattered page writes would touch most
1 MiB content-defined chunks, but only the blocks that hold the touched pages.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator
from typing import BinaryIO

MIN_SIZE = 512 * 1024
AVG_SIZE = 1024 * 1024
MAX_SIZE = 8 * 1024 * 1024
RUN = 11
WINDOW = 64
READ_SIZE = 8 * 1024 * 1024

# Three fixed random tables; a byte position is "selected" when the XOR of its trigram's table bits
# is 1, so text with a small alphabet still selects about half the positions. Changing the seed
# changes every boundary: it is part of the repository format ("chunker" in the config).
_rng = random.Random(0x5EED_C0DE)
TABLES = [bytes(_rng.getrandbits(1) for _ in range(256)) for _ in range(3)]
RUN_PATTERN = b"\x01" * RUN
SEGMENT = 1024 * 1024


def selection_bits(data: bytes | memoryview) -> bytes:
    """One 0/1 byte per position i (for i < len - 2): the trigram bit of data[i:i+3]."""
    n = len(data) - 2
    if n <= 0:
        return b""
    acc = 0
    for k, table in enumerate(TABLES):
        acc ^= int.from_bytes(bytes(data[k : k + n]).translate(table), "big")
    return acc.to_bytes(n, "big")


class Chunker:
    def __init__(
        self, min_size: int = MIN_SIZE, avg_size: int = AVG_SIZE, max_size: int = MAX_SIZE
    ):
        if not 0 < min_size < avg_size < max_size:
            raise ValueError("need 0 < min_size < avg_size < max_size")
        self.min_size, self.avg_size, self.max_size = min_size, avg_size, max_size
        # On random data a run completes about every 2**(RUN+1) bytes; accept enough of them that
        # the expected distance past min_size is avg_size - min_size.
        candidates_per_chunk = max(1.0, (avg_size - min_size) / 2 ** (RUN + 1))
        self.threshold = int(2**64 / candidates_per_chunk)

    def _accept(self, data: bytes | memoryview, end: int) -> bool:
        window = bytes(data[max(0, end - WINDOW) : end])
        digest = hashlib.blake2b(window, digest_size=8, person=b"upkeep-cdc").digest()
        return int.from_bytes(digest, "little") < self.threshold

    def cut(self, data: bytes, start: int, final: bool) -> int | None:
        """The end of the chunk that starts at ``start``, or None if more data is needed."""
        n = len(data)
        lo = start + self.min_size
        hi = min(n, start + self.max_size)
        if n - start <= self.min_size:
            return n if final and n > start else None
        # Candidate ends lie in (lo, hi]; the run that completes at `end` covers selection bits
        # [end - RUN, end), the trigram of position p reads data[p:p+3].
        seg_start = lo - RUN - 1
        while seg_start < hi - RUN:
            seg_end = min(hi + 2, seg_start + SEGMENT + RUN + 3)
            bits = selection_bits(data[seg_start:seg_end])
            pos = 1
            while True:
                i = bits.find(RUN_PATTERN, pos)
                if i < 0 or seg_start + i + RUN > hi:
                    break
                if bits[i - 1] == 1:
                    # Inside a longer run: one candidate per run, where it first reached RUN.
                    nxt = bits.find(b"\x00", i)
                    if nxt < 0:
                        break
                    pos = nxt + 1
                    continue
                end = seg_start + i + RUN
                if self._accept(data, end):
                    return end
                nxt = bits.find(b"\x00", i + RUN)
                if nxt < 0:
                    break
                pos = nxt + 1
            seg_start += SEGMENT
        if start + self.max_size <= n:
            return start + self.max_size
        return n if final else None

    def chunks(self, stream: BinaryIO) -> Iterator[bytes]:
        buf = b""
        eof = False
        while True:
            if not eof and len(buf) < self.max_size + RUN:
                block = stream.read(READ_SIZE)
                if block:
                    buf += block
                    continue
                eof = True
            if not buf:
                return
            end = self.cut(buf, 0, final=eof)
            if end is None:
                continue
            yield buf[:end]
            buf = buf[end:]


def split(data: bytes, chunker: Chunker | None = None) -> list[bytes]:
    import io

    return list((chunker or Chunker()).chunks(io.BytesIO(data)))


def fixed_blocks(stream: BinaryIO, block_size: int) -> Iterator[bytes]:
    while True:
        block = stream.read(block_size)
        if not block:
            return
        yield block


def block_size_for(page_size: int, total_size: int) -> int:
    """Page-aligned block size for a database file (pgBackRest grows it with the file size).

    16 KiB keeps the bytes stored for 1% randomly touched pages under 4% of the file (four 4 KiB
    pages per block); larger files get larger blocks only when the object count would explode.
    """
    base = 16 * 1024 if total_size < 8 * 1024**3 else 64 * 1024
    page = max(page_size, 512)
    return max(page, (base // page) * page)
