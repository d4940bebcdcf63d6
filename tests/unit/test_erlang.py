"""Erlang C and Erlang A (loadtests/erlang.py), the formulas of `vcc staff`: textbook values,
limits, monotony in the number of agents, and Erlang A against an independent computation
(the birth-death chain summed directly, a caller's wait integrated as a Markov chain)."""

from __future__ import annotations

import math

import pytest

from sites import erlang


def test_erlang_c_textbook_values():
    # 3 agents, 2 erlangs: P(wait) = 4/9, ASA = C / (c·mu - lambda) = (4/9) / 1.
    assert erlang.probability_of_wait(3, 2.0, 1.0) == pytest.approx(4 / 9)
    assert erlang.average_speed_of_answer(3, 2.0, 1.0) == pytest.approx(4 / 9)
    # 10 erlangs (100 calls in 30 min, AHT 180 s), 80/20: 13 agents miss, 14 make it.
    rate = 100 / 1800
    assert erlang.service_level(13, rate, 180, 20) == pytest.approx(0.79559, abs=1e-5)
    assert erlang.service_level(14, rate, 180, 20) == pytest.approx(0.88835, abs=1e-5)


@pytest.mark.parametrize("patience", [None, 60.0, 600.0])
def test_figures_improve_with_each_agent(patience):
    rate, aht, threshold = 200 / 1800, 240.0, 20.0
    rows = []
    for agents in range(27, 45):
        if patience is None:
            rows.append((erlang.service_level(agents, rate, aht, threshold),
                         erlang.average_speed_of_answer(agents, rate, aht), 0.0,
                         rate * aht / agents))
        else:
            figures = erlang.erlang_a(agents, rate, aht, patience, threshold)
            rows.append((figures.answered_within, figures.asa_s, figures.abandon,
                         figures.occupancy))
    for before, after in zip(rows, rows[1:]):
        assert after[0] > before[0]                 # SL up
        assert after[1] < before[1]                 # ASA down
        assert after[2] <= before[2]                # abandons down
        assert after[3] < before[3]                 # occupancy down


def test_erlang_a_with_endless_patience_is_erlang_c():
    rate = 100 / 1800
    for agents in (11, 12, 14, 20):
        figures = erlang.erlang_a(agents, rate, 180.0, 1e10, 20.0)
        assert figures.p_wait == pytest.approx(
            erlang.probability_of_wait(agents, rate, 180), rel=1e-6)
        assert figures.answered_within == pytest.approx(
            erlang.service_level(agents, rate, 180, 20), rel=1e-6)
        assert figures.asa_s == pytest.approx(
            erlang.average_speed_of_answer(agents, rate, 180), rel=1e-4)
        assert figures.abandon < 1e-6


def test_erlang_a_with_patience_equal_to_aht_counts_like_m_m_infinity():
    """theta = mu: every caller in the system leaves at the same rate, waiting or served, so
    the number in the system is Poisson(a) (a textbook check): P(wait) = P(N >= n) and
    abandons = theta·E[(N - n)+] / lambda."""
    load, agents = 10.0, 12
    poisson = [math.exp(-load) * load ** j / math.factorial(j) for j in range(120)]
    queued = sum((j - agents) * p for j, p in enumerate(poisson) if j > agents)
    figures = erlang.erlang_a(agents, load / 180, 180.0, 180.0, 20.0)
    assert figures.p_wait == pytest.approx(sum(poisson[agents:]), rel=1e-9)
    assert figures.abandon == pytest.approx(queued / load, rel=1e-9)


def _direct(agents, rate, aht, patience, threshold, depth=300, step=0.01):
    """Erlang A the long way: the stationary chain summed term by term; for each queue
    length k met on arrival, the caller's chance to be answered within the threshold by
    integrating the chain of places ahead (RK4), and its mean wait by first-step analysis."""
    mu, theta = 1.0 / aht, 1.0 / patience
    weights = [1.0]
    for j in range(1, agents + depth):
        weights.append(weights[-1] * rate / (min(j, agents) * mu + max(0, j - agents) * theta))
    total = sum(weights)
    pi = [w / total for w in weights]
    moves = [agents * mu + k * theta for k in range(depth)]   # the line ahead, k in it

    def derivative(u):
        # u[k] = P(answered by t | k ahead); backward equations, place -1 is "answered".
        return [moves[k] * ((u[k - 1] if k else 1.0) - u[k]) - theta * u[k]
                for k in range(depth)]

    u = [0.0] * depth
    for _ in range(round(threshold / step)):
        a = derivative(u)
        b = derivative([x + step / 2 * d for x, d in zip(u, a)])
        c = derivative([x + step / 2 * d for x, d in zip(u, b)])
        d4 = derivative([x + step * d for x, d in zip(u, c)])
        u = [x + step / 6 * (p + 2 * q + 2 * r + s) for x, p, q, r, s in zip(u, a, b, c, d4)]
    served, wait_mass = [], []
    for k in range(depth):
        go = moves[k] / (moves[k] + theta)
        before_served = served[-1] if k else 1.0
        before_wait = wait_mass[-1] if k else 0.0
        served.append(go * before_served)
        wait_mass.append(go * (before_served / (moves[k] + theta) + before_wait))
    free = sum(pi[:agents])
    answered = free + sum(pi[agents + k] * served[k] for k in range(depth))
    within = free + sum(pi[agents + k] * u[k] for k in range(depth))
    waits = sum(pi[agents + k] * wait_mass[k] for k in range(depth))
    return 1.0 - free, 1.0 - answered, within, waits / answered


@pytest.mark.parametrize("case", [(3, 2 / 100, 100.0, 50.0, 10.0),
                                  (10, 12 / 180, 180.0, 120.0, 20.0),
                                  (5, 10 / 180, 180.0, 300.0, 15.0)])
def test_erlang_a_agrees_with_the_chain_worked_out_directly(case):
    p_wait, abandon, within, asa = _direct(*case)
    figures = erlang.erlang_a(*case)
    assert figures.p_wait == pytest.approx(p_wait, rel=1e-9)
    assert figures.abandon == pytest.approx(abandon, rel=1e-9)
    assert figures.answered_within == pytest.approx(within, rel=1e-6)
    assert figures.asa_s == pytest.approx(asa, rel=1e-9)


def test_erlang_a_overloaded_and_long_patience_stays_finite():
    figures = erlang.erlang_a(5, 10.0 / 180 * 10, 180.0, 3600.0, 20.0)
    assert figures.abandon == pytest.approx(0.95, abs=1e-6)    # 100 erlangs, 5 agents
    assert figures.occupancy == pytest.approx(1.0, abs=1e-6)
    assert 0.0 <= figures.answered_within < 1e-9


def test_erlang_a_waits_are_the_routers_ewt_averaged_over_the_queue():
    """The mean wait of an answered caller who finds k queued is the EWT the router
    announces for place k + 1 (sites/ewt.py, Ibrahim & Whitt's predictor for Erlang A):
    averaged over the queue lengths met and the chance to be answered, it is the ASA."""
    from sites.ewt import expected_wait

    agents, rate, aht, patience = 10, 12 / 180, 180.0, 120.0
    b, c = agents * patience / aht, rate * patience
    weights = [1.0]
    for k in range(1, 400):
        weights.append(weights[-1] * c / (b + k))
    answered = [weight * b / (b + k + 1) for k, weight in enumerate(weights)]
    waits = sum(share * expected_wait(k + 1, 0, agents, aht, 1 / patience)
                for k, share in enumerate(answered))
    figures = erlang.erlang_a(agents, rate, aht, patience, 20.0)
    served_queued = figures.p_wait - figures.abandon
    assert waits / sum(answered) * served_queued / (1 - figures.abandon) == pytest.approx(
        figures.asa_s, rel=1e-9)
