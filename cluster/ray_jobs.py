"""The queue of a RayHost (cluster/ray_host.py): the jobs its one drain task runs in order,
and the error a request of a site that is unavailable ends with."""

from __future__ import annotations

import asyncio

from actors.site_actor import ActorUnavailable
from cluster.host import EventResult, HostClosed


class SiteUnavailable(HostClosed):
    """A site actor is restarting or gone: the request may be retried (gRPC UNAVAILABLE).
    A HostClosed so that every servicer (unary and PBX links) answers UNAVAILABLE."""

    def __init__(self, error: ActorUnavailable):
        super().__init__(str(error))
        self.site = error.actor
        self.detail = error.detail


class _Job:
    """A `submit` / `apply_batch` waiting for a round (`pairs`; future: its results), or a
    `task` run in order with the rounds (future: its result)."""
    __slots__ = ("pairs", "link_id", "future", "task", "overloaded", "items", "late",
                 "queued_at")

    def __init__(self, pairs, link_id, future, task=None):
        self.pairs = pairs
        self.link_id = link_id
        self.future = future
        self.task = task
        self.overloaded = ()        # indexes of arrivals refused: the queue was full
        self.items = ()             # its round's items
        self.late = 0               # of them, how many wait for a late site
        self.queued_at = asyncio.get_running_loop().time()     # when it was queued


def _fail(job, error) -> None:
    job.items = ()
    if not job.future.done():
        job.future.set_exception(error)


def _resolve(job) -> None:
    """A job's round (and its late sites) done: its results, or the first failure."""
    items, job.items = job.items, ()
    # Each item names its job (`Item.owner`): dropping the job's list of them breaks that
    # cycle, so a round's items, results and actions are freed when the round's callers
    # are done with them, not by the garbage collector (under overload its collections
    # took about 5 % of the gateway, in pauses of up to 180 ms; issue 16).
    if job.future.done():
        return
    failure = next((item.failed for item in items if item.failed is not None), None)
    if failure is not None:
        job.future.set_exception(SiteUnavailable(failure) if isinstance(
            failure, ActorUnavailable) else failure)
    else:
        job.future.set_result([_result(item) for item in items])


def _result(item) -> EventResult:
    return EventResult(item.out, item.error)
