"""The directory's cache (cluster/customers/cache.py): bounded, least recently used first
out, entries expire; None is a value."""

from cluster.customers.cache import TtlLruCache, found


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_entries_expire_after_their_ttl():
    clock = Clock()
    cache = TtlLruCache(10, 60.0, clock)
    cache.put("a", 1)
    cache.put("b", None, ttl_s=10.0)
    clock.now = 9.9
    assert cache.get("a") == 1 and found(cache.get("b")) and cache.get("b") is None
    clock.now = 10.0
    assert not found(cache.get("b"))
    clock.now = 60.0
    assert not found(cache.get("a")) and len(cache) == 0


def test_the_least_recently_used_goes_first():
    cache = TtlLruCache(2, 60.0, Clock())
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1           # a is now the most recent
    cache.put("c", 3)
    assert not found(cache.get("b")) and cache.get("a") == 1 and cache.get("c") == 3
    assert len(cache) == 2


def test_a_disabled_cache_keeps_nothing():
    for cache in (TtlLruCache(0, 60.0), TtlLruCache(10, 0.0)):
        cache.put("a", 1)
        assert not cache.enabled and not found(cache.get("a")) and len(cache) == 0
    assert TtlLruCache(0, 60.0).get("x", "default") == "default"
