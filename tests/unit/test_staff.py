"""`vcc staff` (SPEC §11): the reference case, the staffing search, the forecast's errors
and the outputs (table, --json, --csv, --png, --verify, --iterate)."""

from __future__ import annotations

import argparse
import csv
import json

import pytest

from loadtests.staff_command import add_staff_parser
from loadtests.staffing import Target, agents_needed, predict, scheduled

HEADER = "interval_start,volume,aht_s\n"


def staff(*argv) -> int:
    """`vcc staff ARGV...` in this process."""
    parser = argparse.ArgumentParser(prog="vcc")
    add_staff_parser(parser.add_subparsers())
    args = parser.parse_args(["staff", *map(str, argv)])
    return args.run(args)


def forecast(tmp_path, text: str, name="forecast.csv") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_reference_case(tmp_path, capsys):
    """SPEC §11: 100 calls in 30 min, AHT 180 s, 80/20, max occupancy 0.85, shrinkage 0.3
    -> 14 agents, 20 scheduled, SL 88.8 %, occupancy 71.4 %."""
    figures = agents_needed(100, 180, 1800, Target(80, 20), 0.85)
    assert (figures.agents, scheduled(figures.agents, 0.3)) == (14, 20)
    assert (round(figures.sl_pct, 1), round(figures.occupancy_pct, 1)) == (88.8, 71.4)
    path = forecast(tmp_path, HEADER + "08:00,100,180\n")
    assert staff(path, "--interval-min", 30, "--sl", "80/20", "--max-occupancy", 0.85,
                 "--shrinkage", 0.3, "--json") == 0
    [row] = json.loads(capsys.readouterr().out)["intervals"]
    assert (row["agents"], row["scheduled"]) == (14, 20)
    assert (round(row["sl_pct"], 1), round(row["occupancy_pct"], 1)) == (88.8, 71.4)
    assert row["interval_start"] == "08:00" and row["volume"] == 100 and row["asa_s"] == 7.84
    assert staff(path, "--interval-min", 30) == 0       # the same, by default
    table = capsys.readouterr().out
    line = next(line for line in table.splitlines() if line.startswith("08:00"))
    assert line.split() == ["08:00", "100", "180", "14", "20", "88.8", "7.8", "71.4"]


@pytest.mark.parametrize("patience", [None, 90.0])
@pytest.mark.parametrize("volume,aht,goal", [(12, 300, Target(80, 20)), (450, 240, Target(90, 15)),
                                             (2000, 200, Target(80, 30)),
                                             (300, 180, Target(None, 20, 10.0))])
def test_the_fewest_agents_that_meet_the_target(volume, aht, goal, patience):
    figures = agents_needed(volume, aht, 1800, goal, 0.9, patience)
    assert goal.met(figures.sl2_pct, figures.asa_s) and figures.occupancy_pct <= 90
    fewer = predict(figures.agents - 1, volume, aht, 1800, goal.threshold_s, patience)
    assert not goal.met(fewer.sl2_pct, fewer.asa_s) or fewer.occupancy_pct > 90


def test_occupancy_ceiling_and_shrinkage():
    # 40 erlangs: 80/20 needs 45 agents (occupancy 89 %); a ceiling of 0.8 needs 50.
    assert agents_needed(400, 180, 1800, Target(80, 20), 1.0).agents == 45
    assert agents_needed(400, 180, 1800, Target(80, 20), 0.8).agents == 50
    assert [scheduled(agents, 0.3) for agents in (0, 1, 7, 14, 15)] == [0, 2, 10, 20, 22]
    assert scheduled(14, 0.0) == 14


def test_erlang_a_holds_the_target_to_sl2(tmp_path, capsys):
    path = forecast(tmp_path, HEADER + "08:00,100,180\n08:30,300,180\n")
    assert staff(path, "--patience-s", 60, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "erlang_a"
    for row in report["intervals"]:
        assert row["sl2_pct"] >= 80 and row["sl_pct"] > row["sl2_pct"] and row["abandon_pct"] > 0


@pytest.mark.parametrize("text,errors", [
    ("interval_start,volume\n", ["forecast.csv:1: aht_s: missing column (required)"]),
    ("interval_start,volume,aht_s,skill\n08:00,1,1,x\n",
     ["forecast.csv:1: skill: unknown column"]),
    (HEADER, ["forecast.csv:1: (file): no intervals"]),
    (HEADER + "08:00,10,180\n08:30,-4,180\n08:60,5,180\n09:30,5\n10:00,nan,0\n",
     ["forecast.csv:3: volume: '-4' is not a number >= 0",
      "forecast.csv:4: interval_start: '08:60' is not a time of day",
      "forecast.csv:5: (row): 2 fields; the header has 3",
      "forecast.csv:6: volume: 'nan' is not a number", "forecast.csv:6: aht_s: must be > 0"]),
    (HEADER + "08:00,10,180\n08:20,10,180\n", ["forecast.csv:3: interval_start: 20 minutes "
                                              "after line 2: intervals are 15, 30 or 60"]),
    (HEADER + "08:00,10,180\n08:30,10,180\n09:15,10,180\n09:00,1,1\n",
     ["forecast.csv:4: interval_start: 45 minutes after line 3: not a whole number",
      "forecast.csv:5: interval_start: not after line 4's '09:15'"]),
    (HEADER + "08:00,10,180\n2025-03-03 08:30,10,180\n",
     ["forecast.csv:3: interval_start: a date and time (YYYY-MM-DD HH:MM); line 2 gives a "
      "time of day"]),
    (HEADER + "08:00,10,180\n", ["forecast.csv:2: interval_start: one interval: say how long"]),
    (HEADER + "08:00,2000000,180\n08:15,1,99999999\n",
     ["forecast.csv:2: volume: 2000000 is more than 1,000,000",
      "forecast.csv:3: aht_s: 99999999 is more than 86,400"]),
    (HEADER + "08:00,100000,900\n08:15,1,1\n",
     ["forecast.csv:2: volume: 100,000 calls of 900 s in 15 minutes are 100,000 erlangs; at "
      "most 10,000"]),
])
def test_forecast_problems_are_named_by_line_and_column(tmp_path, capsys, text, errors):
    path = forecast(tmp_path, text)
    assert staff(path) == 2
    stderr = capsys.readouterr().err
    assert "Traceback" not in stderr
    for error in errors:
        assert f"{tmp_path}/{error}" in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith(f"vcc staff: {path}: ")


BAD_OPTIONS = {
    "--sl 100/20": "--sl: the percentage is above 0 and below 100",
    "--sl eighty": "--sl: PCT/S, e.g. 80/20",
    "--sl 80/0": "--sl: the threshold is seconds > 0",
    "--asa -1": "--asa: seconds > 0",
    "--max-occupancy 1.5": "--max-occupancy: a share from 0.1 to 1",
    "--shrinkage 1": "--shrinkage: a share from 0 to below 1",
    "--patience-s 0": "--patience-s: seconds > 0",
    "--verify --replications 0": "--replications: 1 to 1000",
}


@pytest.mark.parametrize("options", BAD_OPTIONS)
def test_bad_options_are_refused(tmp_path, capsys, options):
    path = forecast(tmp_path, HEADER + "08:00,10,180\n08:30,10,180\n")
    assert staff(path, *options.split()) == 2
    assert f"vcc staff: {BAD_OPTIONS[options]}" in capsys.readouterr().err


def test_missing_forecast(tmp_path, capsys):
    assert staff(tmp_path / "none.csv") == 2
    assert "none.csv: cannot read (No such file or directory)" in capsys.readouterr().err
    assert staff(tmp_path) == 2
    assert "cannot read (Is a directory)" in capsys.readouterr().err


def test_json_csv_and_png_with_verify_and_iterate(tmp_path, capsys):
    """A fast --verify: four 15-minute intervals, 3 simulated days."""
    path = forecast(tmp_path, HEADER + "2025-03-03 09:00,30,240\n2025-03-03 09:15,120,240\n"
                                       "2025-03-03 09:30,30,240\n2025-03-03 10:00,20,240\n")
    out_csv, out_png = tmp_path / "plan.csv", tmp_path / "plan.png"
    assert staff(path, "--iterate", "--replications", 3, "--seed", 3, "--json",
                 "--csv", out_csv, "--png", out_png) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["interval_min"] == 15 and len(report["intervals"]) == 4   # 09:45 closed
    first = report["intervals"][0]
    assert {"interval_start", "volume", "agents", "scheduled", "sl_pct", "asa_s",
            "occupancy_pct"} <= set(first)
    assert set(first["simulated"]) == {"offered", "answered", "abandoned", "sl_pct",
                                       "sl2_pct", "asa_s", "occupancy_pct", "margin", "met"}
    assert first["iterated"]["agents"] >= first["agents"]
    assert report["verify"]["replications"] == 3 and report["verify"]["contacts"] == sum(
        row["simulated"]["offered"] for row in report["intervals"])
    iterate = report["iterate"]
    assert iterate["met"] and iterate["extra_agent_intervals"] == iterate["agent_intervals"] \
        - report["totals"]["agent_intervals"] >= 1
    rows = list(csv.DictReader(out_csv.open()))
    assert [row["interval_start"] for row in rows] == [row["interval_start"] for row in
                                                       report["intervals"]]
    assert rows[1]["agents"] == str(report["intervals"][1]["agents"])
    assert rows[2]["simulated_met"] in ("True", "False")
    assert int(rows[2]["iterated_agents"]) == report["intervals"][2]["iterated"]["agents"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out_png.stat().st_size > 20_000
    # The table says the same.
    assert staff(path, "--verify", "--replications", 3, "--seed", 3) == 0
    words = " ".join(capsys.readouterr().out.split())
    assert "simulated (time-varying arrivals and staffing, 3 days, " in words
    assert "of 4 intervals meet SL 80/20" in words


def test_a_forecast_without_calls_needs_nobody(tmp_path, capsys):
    path = forecast(tmp_path, HEADER + "08:00,0,0\n08:30,0,0\n")
    assert staff(path, "--iterate", "--replications", 2, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["agents"] for row in report["intervals"]] == [0, 0]
    assert report["iterate"]["met"] and report["iterate"]["extra_agent_intervals"] == 0


def test_output_folders_are_checked_before_simulating(tmp_path, capsys):
    path = forecast(tmp_path, HEADER + "08:00,10,180\n08:30,10,180\n")
    assert staff(path, "--verify", "--png", tmp_path / "none" / "x.png") == 2
    assert f"vcc staff: --png {tmp_path}/none/x.png: no such directory" in capsys.readouterr().err
