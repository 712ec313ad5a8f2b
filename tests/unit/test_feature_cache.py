"""The TTL cache of slowly changing feature views: expiry, bound, hit rate (its own clock)."""

from __future__ import annotations

from flink_jobs.stages.enrich.feature_cache import TtlCache
from tests.unit.manual_clock import ManualClock


def test_an_entry_is_served_until_its_ttl_then_asked_for_again():
    clock = ManualClock()
    cache = TtlCache[str](ttl_s=10, max_entries=5, clock=clock)
    cache.put(1, "a")
    clock.now += 9.9
    assert cache.get(1) == "a"
    clock.now += 0.1
    assert cache.get(1) is None
    assert len(cache) == 0
    assert (cache.hits, cache.misses, cache.hit_rate) == (1, 1, 0.5)


def test_the_least_recently_used_entry_goes_first_past_max_entries():
    cache = TtlCache[str](ttl_s=60, max_entries=2, clock=ManualClock())
    cache.put(1, "a")
    cache.put(2, "b")
    assert cache.get(1) == "a"  # 2 is now the least recently used
    cache.put(3, "c")
    assert len(cache) == 2
    assert [cache.get(k) for k in (1, 2, 3)] == ["a", None, "c"]


def test_a_new_value_restarts_the_ttl():
    clock = ManualClock()
    cache = TtlCache[str](ttl_s=10, max_entries=5, clock=clock)
    cache.put(1, "old")
    clock.now += 8
    cache.put(1, "new")
    clock.now += 8
    assert cache.get(1) == "new"
