import io
import os
import random

from backups.chunking import Chunker, block_size_for, fixed_blocks, split

SMALL = Chunker(min_size=4 * 1024, avg_size=16 * 1024, max_size=64 * 1024)


def test_chunks_reassemble_to_the_input_and_respect_the_size_bounds():
    data = os.urandom(2 * 1024 * 1024)
    chunks = split(data, SMALL)
    assert b"".join(chunks) == data
    assert all(4 * 1024 <= len(c) <= 64 * 1024 for c in chunks[:-1])


def test_the_average_chunk_size_is_near_the_target_on_random_data():
    data = random.Random(7).randbytes(8 * 1024 * 1024)
    chunks = split(data, SMALL)
    average = len(data) / len(chunks)
    assert 10 * 1024 < average < 26 * 1024


def test_an_inserted_byte_changes_only_the_chunks_around_it():
    data = random.Random(1).randbytes(2 * 1024 * 1024)
    before = split(data, SMALL)
    after = split(data[:500_000] + b"!" + data[500_000:], SMALL)
    changed = set(after) - set(before)
    assert len(changed) <= 2
    assert len(set(after) & set(before)) >= len(before) - 2


def test_default_sizes_cut_a_megabyte_on_average_and_resync_after_a_prefix():
    data = random.Random(3).randbytes(24 * 1024 * 1024)
    before = split(data)
    after = split(b"x" + data)
    assert 700_000 < len(data) / len(before) < 1_600_000
    assert len(set(after) & set(before)) >= len(before) - 2


def test_a_run_of_one_repeated_byte_is_cut_at_the_maximum_size():
    chunks = split(b"\0" * (300 * 1024), SMALL)
    assert [len(c) for c in chunks[:-1]] == [64 * 1024] * 4


def test_chunking_is_deterministic_across_read_sizes():
    data = random.Random(5).randbytes(1024 * 1024)
    whole = split(data, SMALL)

    class Trickle(io.BytesIO):
        def read(self, n=-1):
            return super().read(min(n, 7_777) if n and n > 0 else 7_777)

    assert list(SMALL.chunks(Trickle(data))) == whole


def test_database_blocks_are_page_aligned_and_fixed():
    assert block_size_for(4096, 10 * 1024**2) == 16 * 1024
    assert block_size_for(65536, 10 * 1024**2) == 65536
    blocks = list(fixed_blocks(io.BytesIO(b"a" * 40_000), 16 * 1024))
    assert [len(b) for b in blocks] == [16384, 16384, 7232]
