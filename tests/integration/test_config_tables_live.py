"""`vcc serve --db` keeps the store's configuration tables (cluster/store/config_tables.py):
written from the router's configuration when it starts serving and shortly after each Admin
change of a site, skill or agent, so that reports find which agents have which skill on a
store a live server filled (before, `vcc report --by skill` found no agent there)."""

from __future__ import annotations

import asyncio
import sqlite3
import textwrap
import time

import pytest

from cluster.client import VccClient
from tests.integration.test_cli_serve import start, stop
from vcc.v1 import admin_pb2

pytestmark = pytest.mark.integration

CONFIG = textwrap.dedent("""\
    skills:
      billing: {sl_threshold_s: 20}
      sales: {sl_threshold_s: 30}
    sites:
      east:
        statistics_window_s: 600
        agents:
          - {ids: [ann, bob], skills: {billing: 2, sales: 1}}
    routing: {multisite: local}
    """)


def agent_skills(db_path) -> set:
    with sqlite3.connect(db_path) as connection:
        return set(connection.execute("SELECT site, agent_id, skill, level FROM agent_skills"))


def sites(db_path) -> dict:
    with sqlite3.connect(db_path) as connection:
        return dict(connection.execute("SELECT name, statistics_window_s FROM sites"))


def wait_for(db_path, expected, limit_s: float = 10.0, read=agent_skills):
    """`read(db_path)` once it equals `expected`, or as it is after `limit_s`."""
    deadline = time.monotonic() + limit_s
    rows = read(db_path)
    while rows != expected and time.monotonic() < deadline:     # bounded
        time.sleep(0.1)
        rows = read(db_path)
    return rows


def test_serve_writes_the_configuration_tables_and_follows_admin_changes(tmp_path):
    config = tmp_path / "center.yaml"
    config.write_text(CONFIG)
    db_path = tmp_path / "vcc.db"
    process, port = start("--runtime", "inprocess", "--config", str(config), "--db",
                          f"sqlite:///{db_path}")
    try:
        configured = {("east", "ann", "billing", 2), ("east", "ann", "sales", 1),
                      ("east", "bob", "billing", 2), ("east", "bob", "sales", 1)}
        assert wait_for(db_path, configured) == configured

        async def change():
            async with VccClient(f"127.0.0.1:{port}") as client:
                await client.admin.PutAgent(admin_pb2.Agent(
                    site="east", agent_id="cy", skills=[admin_pb2.SkillLevel(
                        skill="sales", level=3)]), timeout=10)
                await client.admin.DeleteAgent(admin_pb2.GetRequest(site="east", name="bob"),
                                               timeout=10)
                await client.admin.PutSite(admin_pb2.Site(name="west"), timeout=10)
        asyncio.run(asyncio.wait_for(change(), 30))
        changed = {("east", "ann", "billing", 2), ("east", "ann", "sales", 1),
                   ("east", "cy", "sales", 3)}
        assert wait_for(db_path, changed) == changed
        # Each site's changes are written in a pass of their own: west's may come after
        # east's (seen in a parallel run: the agents written, west not yet).
        expected_sites = {"east": 600.0, "west": 900.0}
        assert wait_for(db_path, expected_sites, read=sites) == expected_sites
    finally:
        assert stop(process) == 0
