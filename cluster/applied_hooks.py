"""What a CoreHost tells others of every event its sites apply: the metrics' answer counts
(cluster/metrics.py) and the observers of `observe_applied` (the campaigns' host follows its
outbound calls there: cluster/campaigns/hosting.py). A mixin of CoreHost (and so RayHost):
it uses the host's `protocol`, `metrics`, `_contacts` and `_applied_observers`.
"""

from __future__ import annotations

from sites import events as ev

_ANSWER_EVENTS = (ev.OfferAccepted, ev.ContactConnected)


class AppliedHooks:
    """The round's `applied` callback, wired only when someone listens."""

    def use_metrics(self, metrics) -> None:
        """Have `metrics` count what this host does (None: stop)."""
        self.metrics = metrics
        self._wire_applied()

    def observe_applied(self, observer) -> None:
        """Call `observer(item, actions)` for every event a site applies (in the round,
        before it is durable: it must only note things, never await)."""
        self._applied_observers.append(observer)
        self._wire_applied()

    def _wire_applied(self) -> None:
        # Nobody asks: no call per event at all (the usual case under PBX load).
        if not self._applied_observers:
            self.protocol.applied = self._answered if self.metrics is not None else None
        else:
            self.protocol.applied = self._on_applied

    def _on_applied(self, item, actions) -> None:
        if self.metrics is not None:
            self._answered(item, actions)
        for observer in self._applied_observers:
            observer(item, actions)

    def _answered(self, item, actions) -> None:
        """Rounds.applied with metrics: an answer counts once per contact. The core answers
        the first OfferAccepted / ContactConnected of an offer with actions (the agent's
        change from reserved to busy, at least) and a repeat of either with none
        (tests/unit/test_metrics.py holds it to that)."""
        if actions and type(item.event) in _ANSWER_EVENTS:
            entry = self._contacts.get(item.event.contact_id)
            if entry is not None:
                self.metrics.answered(item.site, entry)
