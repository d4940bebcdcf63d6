"""sites/recent.py: a router remembers only the most recent final states (memory stays flat,
issue 16 item 7; `python -m loadtests.soak` measures it over 2,000,000 contacts)."""

from hypothesis import given
from hypothesis import strategies as st

from sites.recent import RecentMap


@given(st.lists(st.integers(0, 50), max_size=300), st.integers(1, 20))
def test_it_holds_exactly_the_most_recent_distinct_keys(keys, limit):
    recent = RecentMap(limit)
    model = {}                              # key -> value, in first-insertion order
    for number, key in enumerate(keys):
        recent[key] = number
        if key not in model and len(model) >= limit:
            del model[next(iter(model))]
        model[key] = number
        assert len(recent) <= limit
    assert dict(recent.items()) == model
    assert list(recent) == list(model)      # oldest first: what a snapshot writes
    rebuilt = RecentMap(limit, recent.items())
    assert list(rebuilt.items()) == list(recent.items())   # a restored site forgets alike


def test_a_long_run_keeps_its_size():
    recent = RecentMap(1000)
    for number in range(100_000):
        recent[f"c{number}"] = number
    assert len(recent) == 1000
    assert "c99000" in recent and "c98999" not in recent
    assert "c0" not in recent and recent.get("c99999") == 99_999
    assert len(recent._order) == 1000
