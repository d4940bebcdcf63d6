"""Prometheus metrics (SPEC §11): `vcc serve --metrics-port N` serves `/metrics`.

OpenTelemetry SDK metrics, exported by the OpenTelemetry Prometheus exporter into a registry
of this server's own (prometheus_client text), served over HTTP on the gateway's event loop.
Without the flag nothing here is imported: the host's hooks (`CoreHost.metrics`,
`Rounds.applied`) stay None.

How each kind of figure is had, cheaply (the PBX stream carries thousands of events a second):
- counters (contacts offered, answered, abandoned, by site and skill) are plain integers the
  host adds to where it already looks at every action and every applied event
  (`CoreHost._convert`: offers, queue treatments, final states; `CoreHost._answered`:
  answers), exported as observable counters read at a scrape. A contact is offered once, at
  the site and skill it first queued in or was offered from (an interflowed contact is not
  offered again at the site it moved to); answered and abandoned where it was. A contact
  that ends before it reaches a skill (in its routing plan's IVR, refused) counts in none;
- gauges (queues, oldest wait, service level, EWT, agents) are read at a scrape from the host
  exactly as Routing.GetStatistics reads them (cluster/figures.py): one implementation;
- histograms, in seconds (plain bucket counts exported beside the OpenTelemetry
  instruments: cluster/latency_histogram.py): route latency at the gateway (a PBX link: from the message with the
  arrival being read to the first action about the contact being written back; RouteContact:
  request to reply), journal commits (each transaction; on the Ray runtime every site actor
  times its own, collected at a scrape), Ray rounds (a round of events on the site actors).

A scrape: the handler reads the host's figures first (awaited: the Ray runtime asks its site
actors), then the OpenTelemetry reader collects (the observable instruments' callbacks read
what was just read) and prometheus_client writes the text. Scrapes run one at a time.
"""

from __future__ import annotations

import asyncio
import logging

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider, ObservableCounter, ObservableGauge
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from cluster.figures import agents_by_state, skill_statistics
from cluster.latency_histogram import Histograms, LatencyHistogram
from sites.model import ContactState, Priority

log = logging.getLogger(__name__)

# Bucket bounds in seconds: sub-millisecond rounds up to a store or a site actor that stalls.
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                     2.5, 5.0, 10.0)
PRIORITY_LABELS = tuple(priority.name.lower() for priority in Priority)     # top first
REFRESH_TIMEOUT_S = 5.0         # a scrape waits this long for the host's figures at most
REQUEST_TIMEOUT_S = 10.0        # for a client to send its request line and headers
_CARDINALITY = 100_000          # series per instrument (sites x skills x priorities)
_ABANDONED = ContactState.ABANDONED


class MetricsListenError(OSError):
    """--metrics-host/--metrics-port cannot be listened on (the message names the flag)."""


class _Figures:
    """What one scrape read from the host."""

    def __init__(self):
        self.skills: dict = {}          # site -> [(skill, SkillStatistics)]
        self.agents: dict = {}          # site -> {AgentState: count}


class Metrics:
    """The instruments, the counts the host adds to, and the HTTP endpoint."""

    def __init__(self, listen_host: str = "127.0.0.1", port: int = 0):
        self.listen_host = listen_host
        self.port = port                # the bound one once started
        self.host = None                # what the figures are read from (maybe a HostSwitch)
        self.gate = None                # cluster/leader_gate.py's LeaderGate, with --etcd
        # (site, skill) -> contacts, since this process started.
        self.offered_counts: dict = {}
        self.answered_counts: dict = {}
        self.abandoned_counts: dict = {}
        self._figures = _Figures()
        self._scraping = asyncio.Lock()
        self._server: asyncio.AbstractServer | None = None
        self._timing: asyncio.Task | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        reader = PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=self.registry,
            cardinality_limits={ObservableGauge: _CARDINALITY, ObservableCounter: _CARDINALITY})
        self.provider = MeterProvider(metric_readers=[reader],
                                      resource=Resource.create({SERVICE_NAME: "vcc"}))
        meter = self.provider.get_meter("vcc")
        self._instruments(meter)

    def _instruments(self, meter) -> None:
        def counter(name, counts, what):
            meter.create_observable_counter(
                name, [lambda options: self._counted(counts)], unit="{contact}",
                description=f"Contacts {what} since the server started, by site and skill")

        counter("vcc_contacts_offered", self.offered_counts,
                "offered to a skill (queued in it or offered to an agent of it)")
        counter("vcc_contacts_answered", self.answered_counts, "answered by an agent")
        counter("vcc_contacts_abandoned", self.abandoned_counts,
                "abandoned by the caller after reaching a skill")
        gauges = (
            ("vcc_queue_contacts", "{contact}", "Contacts waiting in the queue, by priority",
             self._queued),
            ("vcc_oldest_wait_seconds", "s", "How long the oldest waiting contact has waited "
             "(since it first arrived in the center); 0 with nobody waiting", self._oldest),
            ("vcc_service_level_ratio", "1", "Contacts answered within the skill's service "
             "level threshold / contacts answered, over the rolling statistics window "
             "(absent before the first answer)", self._service_level),
            ("vcc_ewt_seconds", "s", "Expected wait of a contact entering now, by priority "
             "(absent when nobody staffed can serve it)", self._ewt),
            ("vcc_asa_seconds", "s", "Average speed of answer over the rolling statistics "
             "window (absent before the first answer)", self._asa),
            ("vcc_aht_seconds", "s", "Average handle time over the rolling statistics window "
             "(absent before the first completed contact)", self._aht),
            ("vcc_staffed_agents", "{agent}", "Logged-in agents who have the skill",
             self._staffed),
            ("vcc_ready_agents", "{agent}", "Agents who could take a contact of the skill now",
             self._ready),
            ("vcc_agents", "{agent}", "Agents of the site by state", self._agents),
            ("vcc_leadership_term", "", "The leadership term (fencing token) this process "
             "leads, or the one it knows another process leads; 0 without --etcd",
             self._term),
            ("vcc_leadership_role", "", "1 for this process's role (leader: it routes; "
             "standby), 0 for the other", self._role),
        )
        for name, unit, description, callback in gauges:
            meter.create_observable_gauge(name, [callback], unit=unit, description=description)

        histograms = []

        def histogram(name, description):
            # Counted in plain buckets, not an OpenTelemetry histogram: measured too slow
            # for a record per contact (cluster/latency_histogram.py says why).
            made = LatencyHistogram(name, description, LATENCY_BUCKETS_S)
            histograms.append(made)
            return made

        self.route_latency = histogram(
            "vcc_route_latency_seconds", "At the gateway, from a contact's arrival received "
            "(the PBX message read, or the RouteContact request) to the router's first answer "
            "about it sent (usually its offer)")
        self.journal_commit = histogram(
            "vcc_journal_commit_seconds", "One journal transaction (with --db)")
        self.ray_rounds = histogram(
            "vcc_ray_round_seconds", "One round of events on the site actors (Ray runtime), "
            "Best Service Routing follow-ups included")
        self.registry.register(Histograms(histograms))

    # ---- what the host calls (the hot path: plain integers) ---------------------------------
    def attach(self, host) -> None:
        """Count what `host` (a CoreHost or RayHost) does from now on, and have its journal
        commits timed (each site actor's, on the Ray runtime)."""
        host.use_metrics(self)
        self._timing = asyncio.get_running_loop().create_task(self._time_commits(host))

    @staticmethod
    async def _time_commits(host) -> None:
        try:
            await host.journal_commit_seconds()         # the first call starts the timing
        except Exception as error:          # noqa: BLE001 - the next scrape starts it then
            log.debug("metrics: journal commit timing not started: %s", error)

    def ray_round(self, seconds: float) -> None:
        self.ray_rounds.record(seconds)

    def offered(self, site: str, entry) -> None:
        """A contact was queued or offered for the first time (`entry.offered` was False)."""
        entry.offered = True
        key = (site, entry.skill)
        counts = self.offered_counts
        counts[key] = counts.get(key, 0) + 1

    def answered(self, site: str, entry) -> None:
        key = (site, entry.skill)
        counts = self.answered_counts
        counts[key] = counts.get(key, 0) + 1

    def finished(self, site: str, entry, final_state) -> None:
        if final_state is _ABANDONED and entry.offered and entry.skill is not None:
            key = (site, entry.skill)
            counts = self.abandoned_counts
            counts[key] = counts.get(key, 0) + 1

    def sent(self, received: dict, batch, now: float) -> None:
        """A PBX link wrote `batch` ([(seq, Routed or EventRejected)]) at `now`: the route
        latency of every contact in `received` ({contact id: when its arrival was read})
        whose first answer this is."""
        record = self.route_latency.record
        for _, item in batch:
            contact_id = getattr(getattr(item, "action", item), "contact_id", None)
            if contact_id is not None:
                came = received.pop(contact_id, None)
                if came is not None:
                    record(now - came)

    # ---- a scrape ----------------------------------------------------------------------------
    async def scrape(self) -> bytes:
        """Prometheus text of every metric, the host's figures read now."""
        async with self._scraping:
            try:
                await asyncio.wait_for(self._refresh(), REFRESH_TIMEOUT_S)
            except asyncio.TimeoutError:
                log.warning("metrics: the host's figures took more than %g s; this scrape "
                            "has what was read by then", REFRESH_TIMEOUT_S)
            return generate_latest(self.registry)

    async def _refresh(self) -> None:
        figures = self._figures = _Figures()
        host = self.host
        if host is None:
            return
        for site in host.site_names():
            try:
                figures.skills[site] = await skill_statistics(host, site)
                figures.agents[site] = await agents_by_state(host, site)
            except Exception as error:      # noqa: BLE001 - a standby, a site being recovered
                log.debug("metrics: no figures of site %s: %s", site, error)
        try:
            record = self.journal_commit.record
            for seconds in await host.journal_commit_seconds():
                record(seconds)
        except Exception as error:          # noqa: BLE001 - a standby has no store open
            log.debug("metrics: no journal commit times: %s", error)

    # ---- observable instruments' callbacks (run inside `scrape`) -------------------------------
    def _per_skill(self):
        for site, skills in self._figures.skills.items():
            for skill, statistics in skills:
                yield {"site": site, "skill": skill}, statistics

    def _counted(self, counts: dict):
        """A counter's values; 0 for every skill of every site read, so that a skill's
        series exists before its first contact."""
        keys = {(site, skill) for site, skills in self._figures.skills.items()
                for skill, _ in skills}
        keys.update(counts)
        for site, skill in sorted(keys):
            yield Observation(counts.get((site, skill), 0), {"site": site, "skill": skill})

    def _queued(self, options):
        for labels, statistics in self._per_skill():
            for priority, count in zip(PRIORITY_LABELS, statistics.queued):
                yield Observation(count, {**labels, "priority": priority})

    def _oldest(self, options):
        for labels, statistics in self._per_skill():
            yield Observation(statistics.oldest_wait_s or 0.0, labels)

    def _service_level(self, options):
        for labels, statistics in self._per_skill():
            if statistics.sl_pct is not None:
                yield Observation(statistics.sl_pct / 100.0, labels)

    def _ewt(self, options):
        for labels, statistics in self._per_skill():
            for priority, ewt in zip(PRIORITY_LABELS, statistics.ewt_s):
                if ewt is not None:
                    yield Observation(ewt, {**labels, "priority": priority})

    def _asa(self, options):
        for labels, statistics in self._per_skill():
            if statistics.asa_s is not None:
                yield Observation(statistics.asa_s, labels)

    def _aht(self, options):
        for labels, statistics in self._per_skill():
            if statistics.aht_s is not None:
                yield Observation(statistics.aht_s, labels)

    def _staffed(self, options):
        for labels, statistics in self._per_skill():
            yield Observation(statistics.staffed, labels)

    def _ready(self, options):
        for labels, statistics in self._per_skill():
            yield Observation(statistics.ready, labels)

    def _agents(self, options):
        for site, counts in self._figures.agents.items():
            for state, count in counts.items():
                yield Observation(count, {"site": site, "state": state.value})

    def _leading(self) -> tuple:
        """(term, leads) of this process now."""
        gate = self.gate
        if gate is None:
            return 0, True
        if gate.serving():
            return gate.token, True
        leader = gate.leadership.leader() if gate.leadership is not None else None
        return (leader.token if leader is not None else 0), False

    def _term(self, options):
        if self.host is not None:
            yield Observation(self._leading()[0])

    def _role(self, options):
        if self.host is None:
            return
        leads = self._leading()[1]
        yield Observation(1 if leads else 0, {"role": "leader"})
        yield Observation(0 if leads else 1, {"role": "standby"})

    # ---- the HTTP endpoint -------------------------------------------------------------------
    def read_from(self, host, gate=None) -> None:
        """Scrapes read figures from `host` (with --etcd: the gate's HostSwitch, and the
        gate tells the leadership) from now on; before, they have none."""
        self.host, self.gate = host, gate

    async def start(self) -> None:
        """Listen. Raises MetricsListenError naming the flag if the address cannot be
        listened on."""
        try:
            self._server = await asyncio.start_server(self._client, self.listen_host,
                                                      self.port)
        except OSError as error:
            raise MetricsListenError(
                f"--metrics-port {self.port}: cannot listen on {self.listen_host}:{self.port} "
                f"({error.strerror or error})") from None
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        host = f"[{self.listen_host}]" if ":" in self.listen_host else self.listen_host
        return f"http://{host}:{self.port}/metrics"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.provider.shutdown()

    async def _client(self, reader, writer) -> None:
        """One request, one answer, then the connection closes (HTTP/1.1 `Connection:
        close`): GET or HEAD /metrics, anything else 404 or 405."""
        try:
            try:
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT_S)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    asyncio.TimeoutError):
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            method = parts[0] if parts else ""
            if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                status, body, extra = "400 Bad Request", b"bad request\n", ""
            elif parts[1].split("?", 1)[0] != "/metrics":
                status, body, extra = "404 Not Found", b"not found: try /metrics\n", ""
            elif method not in ("GET", "HEAD"):
                status, body, extra = ("405 Method Not Allowed", b"GET or HEAD only\n",
                                       "Allow: GET, HEAD\r\n")
            else:
                status, body, extra = "200 OK", await self.scrape(), ""
            content_type = CONTENT_TYPE_LATEST if status == "200 OK" else "text/plain"
            writer.write((f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                          f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
                          ).encode("latin-1"))
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except ConnectionError:
            pass
        except Exception:       # noqa: BLE001 - never let a scrape take the server down
            log.exception("metrics: answering a scrape failed")
        finally:
            writer.close()
