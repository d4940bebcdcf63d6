"""A simulated day written to the store: `vcc simulate SCENARIO --db URL` and the store's
tests and benchmark use it.

The simulator (loadtests/simulator.py) stays pure; here each of its sites is attached to a
`cluster.store.persistence.Persistence` (journal, contact records, agent state intervals,
snapshots) and flushed every few thousand events, as a router flushes after each batch, so
`vcc report` can be run over simulated traffic (times are simulated seconds from 0).
"""

from __future__ import annotations

from cluster.store.configs import save_sites
from loadtests.simulator import Simulation, SimulationResult


class EnoughEvents(Exception):
    """The simulation has produced the events asked for."""


def attach_simulation(simulation: Simulation, persistence, *, flush_every: int = 2000,
                      stop_after: int | None = None) -> None:
    """Attach every site of `simulation` to `persistence` (journal, recorder, snapshots),
    flushing it every `flush_every` core events, as a host flushes after each batch.
    `stop_after`: after that many events, flush and end the run (`EnoughEvents` is raised)."""
    save_sites(persistence.journal.engine, [state.config for state in simulation.sites.values()])
    applied = [0]
    for state in simulation.sites.values():
        persistence.start_site(state)
        handle = state.handle

        def handle_and_flush(event, handle=handle):
            actions = handle(event)
            applied[0] += 1
            if applied[0] == stop_after:
                # No snapshot at the very end: recovery then replays the most it ever has to.
                persistence.flush_now(snapshots=False)
                raise EnoughEvents()
            if applied[0] % flush_every == 0:
                persistence.flush_now()
            return actions

        state.handle = handle_and_flush


def recorded_simulation(scenario, persistence, *, seed=None, scheduler_factory=None,
                        flush_every: int = 2000) -> SimulationResult:
    """Run a scenario through the simulator with its sites attached to `persistence`; at the
    end the agents' open state intervals are closed and everything is flushed. The result
    carries the sites (`result.sites`)."""
    simulation = Simulation(scenario, seed=seed, scheduler_factory=scheduler_factory)
    attach_simulation(simulation, persistence, flush_every=flush_every)
    result = simulation.run()
    if persistence.recorder is not None:
        for name, state in simulation.sites.items():
            persistence.recorder.close_intervals(name, state.now)
    persistence.flush_now()
    result.sites = simulation.sites
    return result
