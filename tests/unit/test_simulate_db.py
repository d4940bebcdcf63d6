"""`vcc simulate --db`: a simulated day written to the store, then reported by `vcc report`."""

import json

import sqlalchemy as sa

from cluster.cli import main
from cluster.store.db import open_engine

SCENARIO = "loadtests/examples/two_sites_bsr.yaml"


def test_a_simulated_day_reaches_the_store_and_the_report(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/day.db"
    assert main(["simulate", SCENARIO, "--db", url, "--json", "--no-progress"]) == 0
    report = json.loads(capsys.readouterr().out)
    engine = open_engine(url)
    with engine.connect() as connection:
        rows = dict(connection.execute(sa.text(
            "SELECT final_state, count(*) FROM contact_records GROUP BY final_state")).all())
    engine.dispose()
    contacts = report["contacts"]
    # One record per contact that entered, in its one final state (interflowed contacts keep
    # one record across sites).
    assert sum(rows.values()) == contacts["offered"]
    assert rows.get("abandoned", 0) == contacts["abandoned"]
    assert rows.get("completed", 0) == contacts["answered"]
    assert main(["report", "--db", url, "--by", "site", "--interval", "1h"]) == 0
    out = capsys.readouterr().out
    assert "total" in out and "east" in out and "west" in out
    # Simulated time starts at 0 again: a second run into the same database is refused.
    assert main(["simulate", SCENARIO, "--db", url, "--no-progress"]) == 2
    assert "holds a journal already" in capsys.readouterr().err
