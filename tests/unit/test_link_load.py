"""When an overloaded PBX link refuses new contacts (cluster/servicers/link_load.py)."""

from cluster.servicers.link_load import (BUSY_BATCHES, CALM_BATCHES, ENTER_BATCHES,
                                        WARM_UP_MESSAGES, WINDOW_BATCHES, LinkLoad)

NOW = 100.0         # when a batch is read; the router's warm-up (`calm_until`) ended before


def warmed(limit_s=0.02, batch_s=0.005) -> LinkLoad:
    load = LinkLoad(limit_s)
    for _ in range(WARM_UP_MESSAGES):
        load.batch_ends(0)
        load.applied(batch_s, 1)
    return load


def busy_batches(load, count, waiting=3, batch_s=0.005):
    """`count` batches that each end with messages waiting, none of them late."""
    for _ in range(count):
        load.batch_ends(waiting)
        load.late([0.0] * waiting, NOW)
        load.applied(batch_s, waiting)


def test_a_stall_is_not_an_overload():
    # A machine stall: messages wait long, and a few batches drain them. Busy for fewer
    # than ENTER_BATCHES batches in a row, the link refuses nothing, however late.
    load = warmed()
    for _ in range(ENTER_BATCHES - 1):
        load.batch_ends(2)
        assert load.late([0.5, 0.5], NOW) == [False, False]
        load.applied(0.005, 2)
    load.batch_ends(0)              # it went idle: the streak starts again
    assert load.late([0.5], NOW) == [False] and not load.overloaded
    busy_batches(load, ENTER_BATCHES - 2)
    load.batch_ends(2)
    assert load.late([0.5, 0.5], NOW) == [False, False]
    load.applied(0.005, 2)
    load.batch_ends(2)              # the ENTER_BATCHES-th busy batch in a row: overload
    assert load.late([0.5, 0.5], NOW) == [True, True]


def test_a_link_that_stays_busy_refuses_messages_whose_answer_would_be_late():
    load = warmed()
    busy_batches(load, ENTER_BATCHES - 1)
    load.batch_ends(3)
    assert load.overloaded
    # 5 ms of batch time: a message that waited 10 ms is in time, one that waited 30 is not.
    assert load.late([0.010, 0.030], NOW) == [False, True]


def test_an_overload_lasts_until_the_link_has_been_calm_for_a_while():
    load = warmed()
    busy_batches(load, ENTER_BATCHES)
    load.batch_ends(3)
    assert load.late([0.030], NOW) == [True]
    load.applied(0.005, 1)
    # Shedding drained the link for a moment: it is still in overload, and after
    # BUSY_BATCHES busy batches (not ENTER_BATCHES) a late message is refused again.
    load.batch_ends(0)
    assert load.late([0.030], NOW) == [False]          # idle just now: not refused
    load.applied(0.005, 1)
    busy_batches(load, BUSY_BATCHES - 1)
    load.batch_ends(3)
    assert load.late([0.030], NOW) == [True]
    load.applied(0.005, 1)
    # CALM_BATCHES batches in a row without a late message: the overload is over.
    for _ in range(CALM_BATCHES):
        load.batch_ends(0)
        assert load.late([0.001], NOW) == [False]
        load.applied(0.005, 1)
    assert not load.overloaded
    busy_batches(load, BUSY_BATCHES)
    load.batch_ends(3)
    assert load.late([0.030], NOW) == [False]          # a stall again, not overload


def test_nothing_is_refused_on_a_new_stream_or_with_no_limit():
    load = LinkLoad(0.02)
    for _ in range(ENTER_BATCHES + 1):
        load.batch_ends(5)
        load.applied(0.005, 1)
    assert load.late([1.0], NOW) == [False]          # still warming up
    off = warmed(limit_s=None)
    for _ in range(ENTER_BATCHES + 1):
        off.batch_ends(5)
    assert off.late([10.0], NOW) == [False]


def test_where_every_batch_is_slow_patience_follows_the_quickest_batches():
    # A store on the Ray runtime: every batch takes 40 ms; waiting one batch is normal.
    load = warmed(batch_s=0.040)
    for _ in range(WINDOW_BATCHES):
        load.batch_ends(2)
        load.applied(0.040, 2)
    load.batch_ends(2)
    assert load.late([0.040, 0.090], NOW) == [False, True]   # patience 3 x 40 ms
    # Batches that grow with an overload do not raise the patience with them.
    for _ in range(WINDOW_BATCHES // 2):
        load.batch_ends(2)
        load.applied(0.400, 2)
    load.batch_ends(2)
    assert load.late([0.0], NOW) == [True]


def test_a_router_that_just_took_over_refuses_nothing_until_its_warm_up_ends():
    # A new leader: cold, and every PBX link re-sends its backlog at once. Its stream is
    # busy and late well past the message warm-up, yet nothing is refused before
    # `calm_until`; from then on the usual rule applies.
    load = LinkLoad(0.02, calm_until=NOW + 5.0)
    for _ in range(WARM_UP_MESSAGES + BUSY_BATCHES):
        load.batch_ends(4)
        load.applied(0.005, 1)
    load.batch_ends(4)
    assert load.late([0.5, 0.010], NOW + 4.9) == [False, False]
    assert load.late([0.5, 0.010], NOW + 5.0) == [True, False]
