"""README's CRM integration (docs/crm_example.py) runs as written against `vcc serve --db`
with the bundled configuration: the screen pop shows the customer and the offer, the sale
is ranked, and the finished call is in the customer's history with its disposition."""

from __future__ import annotations

import asyncio
import importlib.util
import pathlib
import time

import pytest
import sqlalchemy as sa

from cluster.store.db import open_engine
from cluster.store.models import Interaction
from tests.integration.test_cli_serve import start, stop

pytestmark = pytest.mark.integration
EXAMPLE = pathlib.Path(__file__).parents[2] / "docs" / "crm_example.py"


def test_the_crm_example_runs(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("crm_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    url = f"sqlite:///{tmp_path}/crm-demo.db"
    process, port = start("--db", url, "--runtime", "inprocess")
    try:
        asyncio.run(asyncio.wait_for(example.main(f"127.0.0.1:{port}"), 60))
        engine = open_engine(url)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                rows = connection.execute(sa.select(Interaction.__table__)).all()
            if rows:
                break
            time.sleep(0.1)
        engine.dispose()
    finally:
        assert stop(process) == 0
    out = capsys.readouterr().out
    assert ("screen pop: Grace Hopper gold ['+*******2671'] offers: ['tv-bundle'] history: 0"
            in out), out
    assert "ranking today: #1 east-g0-1 accepted 1 commission 6.00" in out, out
    (row,) = rows
    assert (row.customer_id, row.agent_id, row.disposition, row.final_state) == (
        "cust-1001", "east-g0-1", "sale", "completed")
