"""`vcc serve --metrics-port`: Prometheus text at /metrics, scraped over HTTP under traffic and
parsed with prometheus_client's parser, checked against the traffic sent and against
Routing.GetStatistics; on both runtimes (Ray: the compiled pass only). The Grafana dashboard
in docs/ queries only metrics the exporter serves."""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from cluster.client import VccClient
from tests.integration.test_cli_serve import start, stop
from vcc.v1 import agent_control_pb2, call_control_pb2 as cc, common_pb2, routing_pb2

pytestmark = pytest.mark.integration
TIMEOUT_S = 30
DASHBOARD = pathlib.Path(__file__).resolve().parents[2] / "docs" / "grafana_dashboard.json"

# One site: three billing agents, one sales agent (who stays not ready).
CONFIG = """\
skills: {billing: {sl_threshold_s: 20}, sales: {sl_threshold_s: 30}}
sites:
  east:
    agents: [{ids: [a1, a2, a3], skills: {billing: 1}}, {ids: [s1], skills: {sales: 1}}]
"""


def scrape(url: str) -> dict:
    """{metric family name: {sample name: {labels as a sorted tuple: value}}}."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    families = {}
    for family in text_string_to_metric_families(text):
        samples = families.setdefault(family.name, {})
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = \
                sample.value
    return families


def value(families, sample, **labels):
    family = re.sub(r"_(total|bucket|count|sum)$", "", sample)
    return families[family][sample][tuple(sorted(labels.items()))]


async def traffic(port: int) -> routing_pb2.GetStatisticsReply:
    """Billing: 2 contacts routed over RouteContact and 4 over a PBX link (3 offered at once,
    3 queued, one of them high priority), 3 answered, 1 ended (its agent then gets the high
    priority one), 1 abandoned; sales: 1 routed and abandoned (its only agent is not
    ready). The statistics as GetStatistics has them."""
    async with VccClient(f"127.0.0.1:{port}") as client:
        for agent in ("a1", "a2", "a3", "s1"):
            await client.agents.Login(agent_control_pb2.AgentRequest(site="east",
                                                                    agent_id=agent),
                                      timeout=TIMEOUT_S)
        for agent in ("a1", "a2", "a3"):
            await client.agents.SetState(agent_control_pb2.SetStateRequest(
                site="east", agent_id=agent, state=common_pb2.AGENT_STATE_READY),
                timeout=TIMEOUT_S)
        offers = {}
        for contact in ("r1", "r2"):
            reply = await client.routing.RouteContact(routing_pb2.RouteContactRequest(
                contact=common_pb2.ContactSpec(contact_id=contact, site="east",
                                               skill="billing")), timeout=TIMEOUT_S)
            assert reply.WhichOneof("decision") == "offer", reply
            offers[contact] = reply.offer.agent_id
        link = client.pbx_link("pbx-1")
        await link.connect()
        for contact, priority in (("p1", common_pb2.PRIORITY_MEDIUM),
                                  ("p2", common_pb2.PRIORITY_MEDIUM),
                                  ("p3", common_pb2.PRIORITY_HIGH),
                                  ("p4", common_pb2.PRIORITY_MEDIUM)):
            link.send(cc.PbxEvent(arrived=common_pb2.ContactSpec(
                contact_id=contact, site="east", skill="billing", priority=priority)))
        await link.flush()
        decided = {}
        messages = link.messages()
        while len(decided) < 4:
            message = await asyncio.wait_for(messages.__anext__(), TIMEOUT_S)
            for action in message.actions:
                which = action.WhichOneof("action")
                decided[getattr(action, which).contact_id] = which
        assert decided == {"p1": "route_to_agent", "p2": "queued", "p3": "queued",
                           "p4": "queued"}, decided
        for contact in ("r1", "r2"):
            await client.agents.RespondToOffer(agent_control_pb2.OfferResponse(
                site="east", agent_id=offers[contact], contact_id=contact, accept=True),
                timeout=TIMEOUT_S)
        link.send(cc.PbxEvent(answered="p1"), cc.PbxEvent(answered="p1"),   # said twice
                  cc.PbxEvent(abandoned="p2"), cc.PbxEvent(ended="p1"))
        await link.flush()
        while link.acked_event_seq < 8:
            await asyncio.wait_for(messages.__anext__(), TIMEOUT_S)
        await client.routing.RouteContact(routing_pb2.RouteContactRequest(
            contact=common_pb2.ContactSpec(contact_id="q1", site="east", skill="sales")),
            timeout=TIMEOUT_S)
        await client.routing.AbandonContact(routing_pb2.AbandonContactRequest(
            contact_id="q1"), timeout=TIMEOUT_S)
        statistics = await client.routing.GetStatistics(routing_pb2.GetStatisticsRequest(),
                                                        timeout=TIMEOUT_S)
        link.close_stream()
        return statistics


def check_against_statistics(families, statistics) -> None:
    priorities = ("top", "high", "medium", "low")
    for skill in statistics.skills:
        labels = {"site": skill.site, "skill": skill.skill}
        assert [value(families, "vcc_queue_contacts", priority=priority, **labels)
                for priority in priorities] == list(skill.queued), skill
        assert value(families, "vcc_staffed_agents", **labels) == skill.staffed
        assert value(families, "vcc_ready_agents", **labels) == skill.ready
        key = tuple(sorted(labels.items()))
        if skill.answered:
            assert value(families, "vcc_service_level_ratio", **labels) == pytest.approx(
                skill.sl_pct / 100.0)
        else:           # no answer in the window: no service level yet (absent, not 0)
            assert key not in families["vcc_service_level_ratio"]["vcc_service_level_ratio"]
        # Scraped a moment after GetStatistics.
        assert skill.oldest_wait_s <= value(families, "vcc_oldest_wait_seconds", **labels) \
            <= skill.oldest_wait_s + 5.0


RUNTIMES = ["inprocess", "ray"]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_metrics_under_traffic_match_the_traffic_and_get_statistics(tmp_path, runtime):
    if runtime == "ray" and os.environ.get("VCC_PURE_PYTHON", "") not in ("", "0"):
        pytest.skip("VCC_PURE_PYTHON=1: the Ray runtime runs in the compiled pass")
    config = tmp_path / "cluster.yaml"
    config.write_text(CONFIG)
    env = dict(os.environ, VCC_STATE_DIR=str(tmp_path / "state"))
    process, port = start("--runtime", runtime, "--config", str(config), "--metrics-port", "0",
                          "--db", f"sqlite:///{tmp_path / 'vcc.db'}", env=env)
    try:
        # The metrics' address is on the same line as the gRPC port.
        url = re.search(r"metrics at (http://127\.0\.0\.1:\d+/metrics)",
                        process.first_line).group(1)
        before = scrape(url)
        assert value(before, "vcc_contacts_offered_total", site="east", skill="billing") == 0
        assert value(before, "vcc_agents", site="east", state="logged_out") == 4
        statistics = asyncio.run(asyncio.wait_for(traffic(port), 120))
        families = scrape(url)

        billing, sales = {"site": "east", "skill": "billing"}, {"site": "east", "skill": "sales"}
        assert value(families, "vcc_contacts_offered_total", **billing) == 6
        assert value(families, "vcc_contacts_offered_total", **sales) == 1
        assert value(families, "vcc_contacts_answered_total", **billing) == 3  # p1 once
        assert value(families, "vcc_contacts_answered_total", **sales) == 0
        assert value(families, "vcc_contacts_abandoned_total", **billing) == 1
        assert value(families, "vcc_contacts_abandoned_total", **sales) == 1
        check_against_statistics(families, statistics)
        agents = {state: value(families, "vcc_agents", site="east", state=state)
                  for state in ("logged_out", "ready", "not_ready", "reserved", "busy",
                                "wrap_up")}
        assert agents == {"logged_out": 0, "ready": 0, "not_ready": 1, "reserved": 1,
                          "busy": 2, "wrap_up": 0}
        assert "vcc_ewt_seconds" not in families or not any(
            labels == tuple(sorted({**sales, "priority": "medium"}.items()))
            for labels in families["vcc_ewt_seconds"]["vcc_ewt_seconds"]), \
            "sales has nobody ready or serving: its EWT is unbounded, so absent"
        # Three RouteContact calls and four PBX arrivals, each timed once.
        assert value(families, "vcc_route_latency_seconds_count") == 7
        assert value(families, "vcc_journal_commit_seconds_count") >= 1
        if runtime == "ray":
            assert value(families, "vcc_ray_round_seconds_count") >= 1
        assert value(families, "vcc_leadership_term") == 0
        assert value(families, "vcc_leadership_role", role="leader") == 1
        assert value(families, "vcc_leadership_role", role="standby") == 0
        for labels in (key for family in families.values() for samples in family.values()
                       for key in samples):
            assert {name for name, _ in labels} <= {"site", "skill", "priority", "state",
                                                    "role", "le"}, labels
        served = set(families)
        if runtime == "ray":            # every metric exists: the dashboard's must be there
            assert dashboard_metrics() <= served, dashboard_metrics() - served
        else:
            assert dashboard_metrics() - served <= {"vcc_ray_round_seconds"}
    finally:
        assert stop(process) == 0, process.stderr.read()


def dashboard_metrics() -> set:
    """The metric families docs/grafana_dashboard.json queries."""
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [target["expr"] for panel in dashboard["panels"]
                   for target in panel.get("targets", ())]
    assert expressions, "no queries in the dashboard"
    names = {re.sub(r"_(total|bucket|count|sum)$", "", name)
             for expression in expressions for name in re.findall(r"\bvcc_[a-z_]+", expression)}
    return names


def assert_serve_refuses(tmp_path, flags, words: str) -> None:
    """`vcc serve ... FLAGS` exits 2 with one line that says `words`, before it runs."""
    result = subprocess.run([sys.executable, "-m", "cluster.cli", "serve", "--port", "0",
                             "--runtime", "inprocess", *flags],
                            capture_output=True, text=True, timeout=60,
                            env=dict(os.environ, VCC_STATE_DIR=str(tmp_path)))
    assert result.returncode == 2, (flags, result.stderr)
    # One line naming the flag (after argparse's usage, for a value it refuses).
    lines = result.stderr.strip().splitlines()
    assert words in lines[-1] and "Traceback" not in result.stderr, (flags, result.stderr)
    assert len(lines) == 1 or lines[0].startswith("usage:"), result.stderr


def test_metrics_flags_are_checked_before_anything_runs(tmp_path):
    """A taken --metrics-port, a bad --metrics-host, or --metrics-host alone: one line naming
    the flag, exit 2, nothing left listening. Without --metrics-port nothing is served."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        for flags, words in ((["--metrics-port", str(busy)], f"--metrics-port {busy}"),
                             (["--metrics-port", "0", "--metrics-host", "1.2.3.4.5"],
                              "--metrics-host"),
                             (["--metrics-port", "70000"], "--metrics-port"),
                             (["--metrics-host", "127.0.0.2"], "--metrics-host")):
            assert_serve_refuses(tmp_path, flags, words)
    process, port = start("--runtime", "inprocess", env=dict(os.environ,
                                                              VCC_STATE_DIR=str(tmp_path)))
    try:
        assert "metrics" not in process.first_line
    finally:
        assert stop(process) == 0


def test_the_endpoint_answers_only_get_and_head_of_metrics(tmp_path):
    process, _ = start("--runtime", "inprocess", "--metrics-port", "0",
                       env=dict(os.environ, VCC_STATE_DIR=str(tmp_path)))
    try:
        url = re.search(r"metrics at (\S+)", process.first_line).group(1)
        for path, method, status in (("/", "GET", 404), ("/metrics", "POST", 405)):
            request = urllib.request.Request(url.replace("/metrics", path), method=method)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=TIMEOUT_S)
            assert refused.value.code == status
        head = urllib.request.urlopen(urllib.request.Request(url, method="HEAD"),
                                      timeout=TIMEOUT_S)
        assert head.status == 200 and head.read() == b""
        # A client that sends nothing does not hold up the others.
        with socket.create_connection((url.split("/")[2].split(":")[0],
                                       int(url.split(":")[2].split("/")[0]))):
            assert "vcc_agents" in scrape(url)
    finally:
        assert stop(process) == 0
