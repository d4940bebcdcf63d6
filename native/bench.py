"""Throughput and memory benchmark of the two DQP scheduler backends: `python -m native.bench`.

What is measured
----------------
For each queued size N (default 1e3, 1e4, 1e5, 1e6) and each backend (the compiled
`native._scheduler` and the pure-Python twin `native.pyscheduler`, in the same run), one
scheduler gets one DQP skill, one agent holding that skill (level 1, greatest need) and
available on voice only (channels mask 1), and is pre-filled with N voice contacts spread
over 4 priorities and 8 service-objective classes (10, 15, 20, 30, 45, 60, 90, 120 s).
Then, at that steady state, these ops are timed:

- enqueue: timed region = a burst of B `enqueue` calls, each returned handle appended
  to a list as a caller keeps it (queue grows N -> N+B); those B contacts are then
  removed, untimed, which brings the queue back to N.
- remove:  timed region = a burst of B `remove(handle)` calls on B distinct random
  queued handles (N -> N-B; picked untimed from a seeded permutation of 0..N-1); B
  contacts are then enqueued again, untimed.
- route:   timed region = a burst of B routes, each `take_best_contact(agent, now)` then
  `remove(handle)` (one route = those two calls; N -> N-B); B contacts are then enqueued
  again, untimed.
- mixed:   timed region = a run of ops drawn as 50% enqueue, 40% route (as above), 10%
  remove of a random queued handle; each block of 10 ops holds exactly 5/4/1 of them in
  seeded random order, so the queue stays within N +- 5. ops/s counts all three kinds.
- pair:    timed region = a run of (route, enqueue) pairs; the queue stays at exactly N.
  ops/s is pairs per second (the issue's target is >= 1e6 pairs/s native at 1e5 queued).

B = max(1, min(N // 10, 4096)), so the queue never moves more than 10% off N; `mixed`
and `pair` time runs of 2,000 ops / pairs. Each burst is timed on its own with
time.perf_counter. All schedulers are pre-filled first; then 5 rounds each give every
(size, backend, op) cell one untimed warm-up burst and 0.06 s of timed bursts (0.3 s per
cell in all), so each number is spread over the whole run and a slow spell of a shared
machine cannot skew one cell against another. Reported ops/s = ops per burst / median
burst time (bursts that lost the CPU to other processes say nothing about the
scheduler); --json also gives mean_ops_per_s = all timed ops / all timed seconds.
Inputs (priorities, service objectives, arrival times, handles to remove, the mixed op
order) are generated before timing from a seeded random.Random, so every run and both
backends see the same inputs (the backends also hand out the same handle numbers). The
timed loops are plain Python `for` loops over pre-built lists calling bound methods: that
loop and call overhead (some 50 ns per call) is part of every number, as it is for any
Python caller.

Memory: for each backend, a fresh process (this module with --memory-probe) reads its
RSS from /proc/self/statm after gc.collect(), creates a scheduler, fills it with 1e6
contacts (each with its own arrival-time float, as a real caller would pass), runs
gc.collect() and reads RSS again; bytes per contact = RSS growth / 1e6. A fresh process
keeps memory freed by earlier measurements from being silently reused (which would hide
growth).

After the table the checks from the issue are printed with PASS/FAIL and the numbers:
native pair ops/s at 1e5 >= 1e6; native/python >= 10 on route and on mixed at 1e5;
native ops/s at 1e6 >= 50% of its ops/s at 1e3, for each op; bytes per queued contact at
1e6 <= 400, for each backend. A check whose data was not measured (see --sizes,
--backend, --no-memory) prints SKIP. Nothing is estimated or extrapolated.

Options: --sizes 1e3,1e5 (any int or float notation), --backend native|python|both,
--json (one JSON object per measurement on stdout: backend, queued, op, ops_per_s, ...;
memory and checks then go to stderr), --no-memory.
"""

import argparse
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from array import array

from native.constants import (
    CALL_SELECT_GREATEST_NEED,
    CHANNEL_VOICE,
    PRIORITY_COUNT,
    QUEUEING_DQP,
    SELECT_LONGEST_IDLE,
)

SEED = 20_240_601
SO_CLASSES = (10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0)
DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)
OPS = ("enqueue", "remove", "route", "mixed", "pair")
BACKENDS = ("native", "python")
VOICE_MASK = 1 << CHANNEL_VOICE

# Inputs for the timed loops are sliced out of one pool and reused cyclically: the pool
# costs ~0.2 s to build once, instead of building millions of fresh values per run.
POOL_SIZE = 1 << 17
MEAN_GAP_S = 0.01            # mean inter-arrival time of the seeded Poisson stream
MAX_BURST = 4096
RUN_LENGTH = 2_000           # ops per timed run of `mixed`, pairs per run of `pair`
MIXED_PLAN_LENGTH = 100_000  # mixed op kinds drawn per size (a multiple of RUN_LENGTH)
TARGET_S = 0.3               # timed seconds per measurement (all rounds together)
ROUNDS = 5
MAX_BURSTS = 100_000         # hard bound on timed bursts per cell and round
MEMORY_SIZE = 1_000_000

ENQUEUE, ROUTE, REMOVE = 0, 1, 2

# The targets.
PAIR_TARGET = 1_000_000
PAIR_SIZE = 100_000
RATIO_TARGET = 10.0
RATIO_SIZE = 100_000
RATIO_OPS = ("route", "mixed")
GROWTH_FLOOR = 0.5
GROWTH_SMALL, GROWTH_LARGE = 1_000, 1_000_000
MEMORY_TARGET = 400


def scheduler_class(backend):
    """The Scheduler class of a backend; a missing native build is an error, not a fallback."""
    if backend == "native":
        try:
            from native._scheduler import Scheduler
        except ImportError as error:
            raise SystemExit(f"native backend not built ({error}); run `pip install -e .`")
        return Scheduler
    from native.pyscheduler import Scheduler
    return Scheduler


# ---- inputs ----------------------------------------------------------------------------
class Pool:
    """Seeded per-contact inputs: priority, service objective, arrival time (increasing)."""

    def __init__(self, rng):
        self.priorities = [rng.randrange(PRIORITY_COUNT) for _ in range(POOL_SIZE)]
        self.objectives = [rng.choice(SO_CLASSES) for _ in range(POOL_SIZE)]
        clock, arrivals = 0.0, []
        for _ in range(POOL_SIZE):
            clock += rng.expovariate(1.0 / MEAN_GAP_S)
            arrivals.append(clock)
        self.arrivals = arrivals
        self.cursor = 0

    def take(self, count):
        """The next `count` (priorities, objectives, arrivals) slices, wrapping around."""
        if self.cursor + count > POOL_SIZE:
            # Time must keep going forward when the pool wraps: a route's `now` earlier
            # than the queued arrivals would find no eligible contact (the scheduler only
            # serves contacts with wait >= -1 s to a non-widened agent).
            shift = self.arrivals[-1]
            self.arrivals = [arrival + shift for arrival in self.arrivals]
            self.cursor = 0
        start, self.cursor = self.cursor, self.cursor + count
        stop = self.cursor
        return (self.priorities[start:stop], self.objectives[start:stop],
                self.arrivals[start:stop])


class SizeInputs:
    """Inputs that depend on the queued size N; shared by both backends at that size."""

    def __init__(self, rng, size, pool):
        # Handles removed by `remove` bursts: a random permutation of 0..N-1 (at most
        # POOL_SIZE of them). Pre-fill hands out 0..N-1 and every burst gives back the
        # handles it freed, so all but a few (left free by `mixed` runs) are queued. Kept
        # as machine ints: each burst gets fresh int objects laid out in call order, so
        # the harness adds no cache misses that grow with N (random reads of a million
        # scattered int objects would be charged to the scheduler).
        self.victims = array("q", rng.sample(range(size), min(size, POOL_SIZE)))
        # `mixed`: the op order, in shuffled blocks of 5 enqueue / 4 route / 1 remove, and
        # the handles its removes aim at (random, so occasionally one that is free).
        block = [ENQUEUE] * 5 + [ROUTE] * 4 + [REMOVE]
        self.mixed_kinds = []
        for _ in range(MIXED_PLAN_LENGTH // len(block)):
            rng.shuffle(block)
            self.mixed_kinds += block
        self.mixed_victims = array("q", (rng.randrange(size) for _ in range(MIXED_PLAN_LENGTH)))


# ---- one scheduler at steady state -------------------------------------------------------
class Rig:
    """A scheduler of one backend with one skill and one ready voice agent, filled to N."""

    def __init__(self, scheduler_cls, size, pool):
        self.scheduler = scheduler_cls()
        self.skill = self.scheduler.add_skill(QUEUEING_DQP, SELECT_LONGEST_IDLE)
        self.agent = self.scheduler.add_agent([(self.skill, 1)], CALL_SELECT_GREATEST_NEED)
        self.scheduler.set_agent_availability(self.agent, VOICE_MASK, 0.0, 0.0)
        self.size = size
        self.burst = max(1, min(size // 10, MAX_BURST))
        self.victim_offset = 0
        self.mixed_offset = 0
        enqueue, skill = self.scheduler.enqueue, self.skill
        mask = POOL_SIZE - 1
        # Pre-filled contacts arrived before the timed ones (negative times); each gets a
        # fresh float, so the twin's memory is charged for the floats it keeps.
        for i in range(size):
            enqueue(skill, CHANNEL_VOICE, pool.priorities[i & mask], pool.objectives[i & mask],
                    (i - size) * MEAN_GAP_S)
        self.check_queued(size, size)

    def check_queued(self, low, high):
        count = self.scheduler.contact_count()
        if not low <= count <= high:
            raise RuntimeError(f"queue drifted: {count} contacts, expected {low}..{high}")

    def refill(self, pool, count):
        """Untimed: enqueue `count` contacts (they reuse the handles just freed)."""
        enqueue, skill = self.scheduler.enqueue, self.skill
        for priority, objective, arrival in zip(*pool.take(count)):
            enqueue(skill, CHANNEL_VOICE, priority, objective, arrival)

    # Each burst_* runs one timed burst, restores the queue size untimed, and returns
    # (ops timed, seconds). The timed loops bind everything to locals first: attribute
    # lookups inside them would be charged to the scheduler.
    def burst_enqueue(self, pool, inputs):
        enqueue, skill, burst = self.scheduler.enqueue, self.skill, self.burst
        priorities, objectives, arrivals = pool.take(burst)
        start = time.perf_counter()
        # The returned handles are kept (one list append each, as any caller keeps them)
        # so that exactly these contacts can be removed afterwards.
        handles = [enqueue(skill, CHANNEL_VOICE, priority, objective, arrival)
                   for priority, objective, arrival in zip(priorities, objectives, arrivals)]
        elapsed = time.perf_counter() - start
        remove = self.scheduler.remove
        for handle in handles:
            remove(handle)
        return burst, elapsed

    def burst_remove(self, pool, inputs):
        remove, burst = self.scheduler.remove, self.burst
        # Untimed: the next B queued handles of the seeded permutation, skipping the few
        # that a `mixed` run left free. A window of B <= N/10 consecutive entries of a
        # permutation holds no handle twice. Indexing the array makes fresh int objects,
        # laid out in call order.
        is_queued, victims, handles = self.scheduler.is_queued, inputs.victims, []
        for _ in range(len(victims)):
            handle = victims[self.victim_offset]
            self.victim_offset = (self.victim_offset + 1) % len(victims)
            if is_queued(handle):
                handles.append(handle)
                if len(handles) == burst:
                    break
        start = time.perf_counter()
        for handle in handles:
            remove(handle)
        elapsed = time.perf_counter() - start
        self.refill(pool, burst)
        return burst, elapsed

    def burst_route(self, pool, inputs):
        take, remove = self.scheduler.take_best_contact, self.scheduler.remove
        agent, burst = self.agent, self.burst
        nows = pool.take(burst)[2]
        start = time.perf_counter()
        for now in nows:
            remove(take(agent, now))
        elapsed = time.perf_counter() - start
        self.refill(pool, burst)
        return burst, elapsed

    def burst_pair(self, pool, inputs):
        enqueue, take, remove = (self.scheduler.enqueue, self.scheduler.take_best_contact,
                                 self.scheduler.remove)
        agent, skill = self.agent, self.skill
        priorities, objectives, arrivals = pool.take(RUN_LENGTH)
        start = time.perf_counter()
        for priority, objective, arrival in zip(priorities, objectives, arrivals):
            remove(take(agent, arrival))
            enqueue(skill, CHANNEL_VOICE, priority, objective, arrival)
        elapsed = time.perf_counter() - start
        return RUN_LENGTH, elapsed

    def burst_mixed(self, pool, inputs):
        enqueue, take, remove = (self.scheduler.enqueue, self.scheduler.take_best_contact,
                                 self.scheduler.remove)
        agent, skill, remove_queued = self.agent, self.skill, self.remove_queued
        offset = self.mixed_offset % MIXED_PLAN_LENGTH
        self.mixed_offset = offset + RUN_LENGTH
        # Untimed: one (kind, a, b, c) tuple per op, so the timed loop only unpacks and
        # dispatches: (ENQUEUE, priority, so, arrival), (ROUTE, now, -, -), (REMOVE, handle,
        # -, -). Built per run because arrival times must keep increasing.
        run = [(kind, priority, objective, arrival) if kind == ENQUEUE
               else (kind, arrival, None, None) if kind == ROUTE
               else (kind, victim, None, None)
               for kind, victim, priority, objective, arrival in zip(
                   inputs.mixed_kinds[offset:offset + RUN_LENGTH],
                   inputs.mixed_victims[offset:offset + RUN_LENGTH].tolist(),
                   *pool.take(RUN_LENGTH))]
        start = time.perf_counter()
        for kind, a, b, c in run:
            if kind == ENQUEUE:
                enqueue(skill, CHANNEL_VOICE, a, b, c)
            elif kind == ROUTE:
                remove(take(agent, a))
            else:
                try:
                    remove(a)
                except KeyError:
                    remove_queued(a)
        elapsed = time.perf_counter() - start
        return RUN_LENGTH, elapsed

    def remove_queued(self, handle):
        """Remove the first queued handle after a free one, cyclically in 0..N-1.

        The random handles that `mixed` removes are drawn up front; a few handles are
        free at any moment (routed or removed, not yet reused by an enqueue), so now and
        then (0.75% of its removes at N=1e3, 0.05% at 1e5) the drawn one is free and
        the next queued one up is removed instead, at the price of a caught KeyError.
        """
        remove = self.scheduler.remove
        for step in range(1, self.size):  # bounded; fewer than N handles are ever free
            try:
                remove((handle + step) % self.size)
                return
            except KeyError:
                continue
        raise RuntimeError("no queued contact to remove")


def measure_round(rig, op, pool, inputs, budget_s, times):
    """Time bursts of one op on a filled rig until `budget_s`; append their times.

    Returns the ops per burst. One untimed burst first warms the caches, which the
    previously measured rig has just evicted.
    """
    burst = getattr(rig, "burst_" + op)
    burst(pool, inputs)
    per_burst, spent = 0, 0.0
    for _ in range(MAX_BURSTS):
        per_burst, elapsed = burst(pool, inputs)
        times.append(elapsed)
        spent += elapsed
        if spent >= budget_s:
            break
    # Every burst restores the size exactly (a `mixed` run is whole 5/4/1 blocks).
    rig.check_queued(rig.size, rig.size)
    return per_burst


def summarize(per_burst, times):
    """ops/s from the median burst, plus the plain mean and the counts behind it."""
    # The median: on a shared machine some bursts lose the CPU to other processes
    # (steal time), which says nothing about the scheduler.
    typical, seconds = statistics.median(times), sum(times)
    ops = per_burst * len(times)
    return {"ops_per_s": per_burst / typical, "ns_per_op": typical / per_burst * 1e9,
            "mean_ops_per_s": ops / seconds, "ops": ops, "bursts": len(times),
            "batch": per_burst, "timed_s": seconds}


def run_benchmark(classes, sizes, pool, rng, progress):
    """{(backend, size, op): summary}: all rigs built first, then measured in rounds.

    Each of ROUNDS rounds gives every (size, backend, op) cell TARGET_S / ROUNDS of timed
    bursts, so every number is spread over the whole run: a slow spell of the machine
    hits all cells alike instead of skewing the growth and native/python comparisons.
    """
    rigs, inputs = {}, {}
    for size in sizes:
        inputs[size] = SizeInputs(rng, size, pool)
        for backend, cls in classes.items():
            progress(f"{backend}: pre-filling {size:,} contacts")
            rigs[(backend, size)] = Rig(cls, size, pool)
    times = {(backend, size, op): [] for backend, size in rigs for op in OPS}
    per_burst = {}
    for number in range(ROUNDS):
        progress(f"round {number + 1}/{ROUNDS}: {', '.join(OPS)} at every size and backend")
        gc.collect()
        for (backend, size), rig in rigs.items():
            for op in OPS:
                key = (backend, size, op)
                per_burst[key] = measure_round(rig, op, pool, inputs[size],
                                               TARGET_S / ROUNDS, times[key])
    return {key: summarize(per_burst[key], times[key]) for key in times}


# ---- memory ----------------------------------------------------------------------------
def rss_bytes():
    """Current resident set size from /proc/self/statm (Linux), else None."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def memory_probe(backend):
    """Run inside a fresh process: RSS growth of one scheduler filled to MEMORY_SIZE."""
    cls = scheduler_class(backend)
    pool = Pool(random.Random(SEED))
    gc.collect()
    before = rss_bytes()
    rig = Rig(cls, MEMORY_SIZE, pool)
    gc.collect()
    after = rss_bytes()
    result = {"backend": backend, "queued": rig.scheduler.contact_count()}
    if before is None or after is None:
        result["bytes_per_contact"] = None
    else:
        result["rss_growth_bytes"] = after - before
        result["bytes_per_contact"] = (after - before) / MEMORY_SIZE
    print(json.dumps(result))


def measure_memory(backend):
    """bytes per contact from a fresh child process (see the module docstring)."""
    done = subprocess.run([sys.executable, "-m", "native.bench", "--memory-probe", backend],
                          capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---- checks ----------------------------------------------------------------------------
def run_checks(results, memory):
    """(status, text) per issue target; status is PASS, FAIL or SKIP."""
    def get(backend, size, op):
        row = results.get((backend, size, op))
        return row["ops_per_s"] if row else None

    checks = []
    pair = get("native", PAIR_SIZE, "pair")
    checks.append(_verdict(
        pair is not None and pair >= PAIR_TARGET,
        pair is None,
        f"native pair (route+enqueue) at {PAIR_SIZE:,} queued: "
        f"{_num(pair)} pairs/s (target >= {PAIR_TARGET:,})"))
    for op in RATIO_OPS:
        native, python = get("native", RATIO_SIZE, op), get("python", RATIO_SIZE, op)
        ratio = native / python if native and python else None
        checks.append(_verdict(
            ratio is not None and ratio >= RATIO_TARGET,
            ratio is None,
            f"native/python on {op} at {RATIO_SIZE:,} queued: {_ratio(ratio)} "
            f"({_num(native)} vs {_num(python)} ops/s; target >= {RATIO_TARGET:g}x)"))
    for op in OPS:
        small, large = get("native", GROWTH_SMALL, op), get("native", GROWTH_LARGE, op)
        share = large / small if small and large else None
        checks.append(_verdict(
            share is not None and share >= GROWTH_FLOOR,
            share is None,
            f"growth, native {op}: {GROWTH_LARGE:,} queued runs at "
            f"{'-' if share is None else f'{share:.0%}'} of {GROWTH_SMALL:,} "
            f"({_num(large)} vs {_num(small)} ops/s; target >= {GROWTH_FLOOR:.0%})"))
    for backend, probe in memory.items():
        per = probe.get("bytes_per_contact") if probe else None
        checks.append(_verdict(
            per is not None and per <= MEMORY_TARGET,
            per is None,
            f"memory, {backend}: {'-' if per is None else f'{per:.1f}'} bytes per queued "
            f"contact at {MEMORY_SIZE:,} (RSS growth; target <= {MEMORY_TARGET})"))
    return checks


def _verdict(passed, skipped, text):
    return ("SKIP" if skipped else "PASS" if passed else "FAIL"), text


def _num(value):
    return "-" if value is None else f"{value:,.0f}"


def _ratio(value):
    return "-" if value is None else f"{value:.1f}x"


# ---- output ----------------------------------------------------------------------------
def print_table(results, sizes, backends, console):
    from rich import box
    from rich.table import Table

    table = Table(title="DQP scheduler throughput (pair: route+enqueue pairs/s)",
                  box=box.SIMPLE_HEAD)
    table.add_column("queued", justify="right")
    table.add_column("op")
    for backend in backends:
        table.add_column(f"{backend} ops/s", justify="right")
        table.add_column("ns/op", justify="right")
    if len(backends) == 2:
        table.add_column("ratio", justify="right")
    for size in sizes:
        for op in OPS:
            cells = [f"{size:,}", op]
            for backend in backends:
                row = results[(backend, size, op)]
                cells += [f"{row['ops_per_s']:,.0f}", f"{row['ns_per_op']:,.0f}"]
            if len(backends) == 2:
                cells.append(_ratio(results[("native", size, op)]["ops_per_s"]
                                    / results[("python", size, op)]["ops_per_s"]))
            table.add_row(*cells)
        table.add_section()
    console.print(table)


def parse_sizes(text):
    sizes = []
    for part in text.split(","):
        try:
            size = int(float(part))
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a size: {part!r}") from None
        if size < 100:
            raise argparse.ArgumentTypeError(f"sizes must be >= 100, got {part!r}")
        sizes.append(size)
    return sorted(set(sizes))


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m native.bench",
                                     description="Benchmark the DQP scheduler backends.")
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES),
                        help="comma-separated queued sizes (default 1e3,1e4,1e5,1e6)")
    parser.add_argument("--backend", choices=("native", "python", "both"), default="both")
    parser.add_argument("--json", action="store_true",
                        help="one JSON object per measurement on stdout")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory probes")
    parser.add_argument("--memory-probe", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        memory_probe(args.memory_probe)
        return 0

    from rich.console import Console

    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    classes = {backend: scheduler_class(backend) for backend in backends}
    out = Console()
    # Progress, and in --json mode everything but the measurements, goes to stderr.
    err = Console(stderr=True)
    report = err if args.json else out
    started = time.perf_counter()

    def progress(text):
        err.print(f"[{time.perf_counter() - started:6.1f} s] {text}", highlight=False, soft_wrap=True)

    # Memory first, before this process has allocated and freed anything big.
    memory = {}
    if not args.no_memory:
        for backend in backends:
            progress(f"memory probe: {backend}, {MEMORY_SIZE:,} contacts in a fresh process")
            memory[backend] = measure_memory(backend)

    rng = random.Random(SEED)
    pool = Pool(rng)
    results = run_benchmark(classes, args.sizes, pool, rng, progress)
    if args.json:
        for (backend, size, op), row in results.items():
            print(json.dumps({"backend": backend, "queued": size, "op": op, **row}))

    if not args.json:
        print_table(results, args.sizes, backends, out)
    for backend, probe in memory.items():
        if probe["bytes_per_contact"] is None:
            report.print(f"memory {backend}: RSS unavailable (no /proc/self/statm)")
        else:
            report.print(f"memory {backend}: RSS growth {probe['rss_growth_bytes']:,} bytes for "
                         f"{probe['queued']:,} contacts = "
                         f"{probe['bytes_per_contact']:.1f} bytes/contact", soft_wrap=True)
    report.print("checks:")
    for status, text in run_checks(results, memory):
        colour = {"PASS": "green", "FAIL": "red", "SKIP": "yellow"}[status]
        report.print(f"  [{colour}]{status}[/{colour}] {text}", highlight=False,
                     soft_wrap=True)
    report.print(f"total runtime {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
