from __future__ import annotations

import datetime as dt
import threading

from imghost.analytics.counter import Batch, ImageCounts, ViewCounter, day_of

DAY = 86_400
T0 = 20_000 * DAY + 3_600  # 2024-10-04 01:00 UTC


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_record_counts_views_downloads_and_bytes_per_image_and_day() -> None:
    clock = Clock(T0)
    counter = ViewCounter(clock)
    counter.record("img_a", "u_1", "view", 100)
    counter.record("img_a", "u_1", "view", 50)
    counter.record("img_a", "u_1", "download", 1000)
    counter.record("img_a", "u_1", None, 10)  # a resumed range: bytes only
    counter.record("img_b", "u_1", "download", 7)
    clock.now += DAY  # after midnight UTC: a new day
    counter.record("img_a", "u_1", "view", 1)
    batch = counter.drain()
    assert batch.images == {
        ("img_a", 20_000): ImageCounts(views=2, downloads=1, bandwidth_bytes=1160),
        ("img_b", 20_000): ImageCounts(views=0, downloads=1, bandwidth_bytes=7),
        ("img_a", 20_001): ImageCounts(views=1, downloads=0, bandwidth_bytes=1),
    }
    assert batch.owners == {("u_1", 20_000): 1167, ("u_1", 20_001): 1}
    assert day_of(20_000) == dt.date(2024, 10, 4)


def test_drain_empties_and_an_empty_batch_is_falsy() -> None:
    counter = ViewCounter(Clock(T0))
    assert not counter.drain()
    counter.record("img_a", "u_1", "view", 1)
    assert counter.pending() == 1
    assert counter.drain()
    assert not counter.drain() and counter.pending() == 0


def test_merge_gives_back_a_failed_batch_on_top_of_new_counts() -> None:
    counter = ViewCounter(Clock(T0))
    counter.record("img_a", "u_1", "view", 10)
    failed = counter.drain()
    counter.record("img_a", "u_1", "download", 5)
    counter.record("img_b", "u_2", "view", 3)
    counter.merge(failed)
    batch = counter.drain()
    assert batch.images[("img_a", 20_000)] == ImageCounts(1, 1, 15)
    assert batch.images[("img_b", 20_000)] == ImageCounts(1, 0, 3)
    assert batch.owners == {("u_1", 20_000): 15, ("u_2", 20_000): 3}
    counter.merge(Batch())
    assert not counter.drain()


def test_threads_lose_no_update_and_drains_never_split_one() -> None:
    """Records from many threads while another drains: every count lands in exactly one batch."""
    counter = ViewCounter(Clock(T0))
    threads, per_thread = 8, 5_000
    done = threading.Event()
    drained: list[Batch] = []

    def drainer() -> None:
        while not done.is_set():
            drained.append(counter.drain())
        drained.append(counter.drain())

    def recorder(n: int) -> None:
        for i in range(per_thread):
            counter.record(f"img_{i % 3}", f"u_{n % 2}", "view" if i % 2 else "download", 2)

    taker = threading.Thread(target=drainer)
    taker.start()
    workers = [threading.Thread(target=recorder, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    done.set()
    taker.join()
    total = ImageCounts()
    owner_bytes = 0
    for batch in drained:
        # Images and owners are swapped together: a batch never holds half a record.
        assert sum(c.bandwidth_bytes for c in batch.images.values()) == sum(batch.owners.values())
        for counts in batch.images.values():
            # Each entry is internally consistent: one record is never split across batches.
            assert counts.bandwidth_bytes == 2 * (counts.views + counts.downloads)
            total.add(counts)
        owner_bytes += sum(batch.owners.values())
    records = threads * per_thread
    assert total.views + total.downloads == records
    assert total.views == records // 2
    assert total.bandwidth_bytes == owner_bytes == 2 * records
