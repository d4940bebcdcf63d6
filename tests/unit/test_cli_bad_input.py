"""The `vcc` command on hostile input (issue 15, item 10).

Every case runs the real command in a subprocess, bounded in time (TIMEOUT_S) and in memory
(MEMORY_BYTES of address space), and must end with exit code 2, one short error naming the
file/line/key or the flag, and no traceback. Before the fix, these printed a traceback, hung,
or grew without bound (an 879-byte YAML alias bomb grew ~50 MB/s; 10^11 agents ran until
killed). Only loopback is touched: the port cases bind 127.0.0.1.
"""

from __future__ import annotations

import os
import pathlib
import resource
import socket
import subprocess
import sys

import pytest

from cluster.yaml_reader import ConfigFileError, parse_yaml, read_text
from loadtests.scenario import parse_scenario

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "loadtests" / "examples" / "one_site.yaml").read_text()
TIMEOUT_S = 60.0                   # each case takes ~1 s; generous for a loaded 2-core box
MEMORY_BYTES = 3 * 1024 ** 3       # address space: a run-away expansion fails fast instead
MAX_ERROR_LINE = 600               # one line, not a page (the bomb echoed megabytes) ...
MAX_STDERR = 2000                  # ... after argparse's usage at most


def _limits():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def vcc(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "cluster.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=TIMEOUT_S, cwd=cwd,
                          preexec_fn=_limits,
                          env=dict(os.environ, VCC_STATE_DIR=str(cwd / "state"), **(env or {})))


def assert_refused(result, *words, absent=()):
    stderr = result.stderr
    assert result.returncode == 2, (result.returncode, stderr[-2000:])
    assert "Traceback" not in stderr, stderr[-2000:]
    assert len(stderr) <= MAX_STDERR, stderr[:2000]
    assert len(stderr.strip().splitlines()[-1]) <= MAX_ERROR_LINE, stderr[-2000:]
    for word in words:
        assert word in stderr, (word, stderr)
    for word in absent:
        assert word not in stderr, (word, stderr)


def scenario(tmp_path, text, name="s.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def billion_laughs() -> str:
    """The "billion laughs" file of the report: 879 bytes, 9^10 values once expanded."""
    levels = ["&a0 [lol,lol,lol,lol,lol,lol,lol,lol,lol]"]
    levels += [f"&a{n} [" + ",".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 10)]
    return EXAMPLE.replace("duration_s: 3600", "duration_s: [" + ", ".join(levels) + "]")


# ---- scenario and configuration files -------------------------------------------------------------
FILE_CASES = {
    # name: (scenario text, words stderr must hold)
    "skills_as_a_list_of_mappings": (
        EXAMPLE.replace("skills:\n  billing: {queueing: dqp, sl_threshold_s: 20, "
                        "agent_selection: longest_idle}", "skills: [{billing: {}}]"),
        ("s.yaml:4: skills: must be a mapping",)),
    "skills_as_a_number": (
        EXAMPLE.replace("skills:\n  billing: {queueing: dqp, sl_threshold_s: 20, "
                        "agent_selection: longest_idle}", "skills: 5"),
        ("s.yaml:4: skills: must be a mapping",)),
    "agent_skills_as_a_list_of_mappings": (
        EXAMPLE.replace("skills: {billing: 1}", "skills: [{billing: 1}]"),
        ("s.yaml:9: sites.east.agents[0].skills: must be a mapping",)),
    "sites_as_a_list": (
        EXAMPLE.replace("sites:\n  east:", "sites:\n  - east:"),
        ("sites: must be a mapping",)),
    "traffic_site_as_a_list": (
        EXAMPLE.replace("site: east, skill", "site: [east], skill"),
        ("s.yaml:11: traffic[0].site:",)),
    "traffic_skill_as_a_mapping": (
        EXAMPLE.replace("skill: billing, rate", "skill: {billing: 1}, rate"),
        ("s.yaml:11: traffic[0].skill:",)),
    "billion_laughs": (billion_laughs(), ("s.yaml:2: (yaml): anchors and aliases",)),
    "agents_10e11": (
        EXAMPLE.replace("count: 40", "count: 100000000000"),
        ("s.yaml:9: sites.east.agents[0].count: must be an integer <= 100,000",)),
    "agents_over_a_million_in_all": (
        EXAMPLE.replace("      - {count: 40, skills: {billing: 1}}",
                        "\n".join(["      - {count: 100000, skills: {billing: 1}}"] * 11)),
        ("sites.east.agents[10].count: more than 1,000,000 agents",)),
    "calls_10e12_an_hour": (
        EXAMPLE.replace("rate_per_hour: 720", "rate_per_hour: 1000000000000"),
        ("s.yaml:11: traffic[0].rate_per_hour: must be <= 10,000,000",)),
    "duration_10e15": (
        EXAMPLE.replace("duration_s: 3600", "duration_s: 1000000000000000"),
        ("s.yaml:2: duration_s: must be <= 2,678,400",)),
    "too_many_contacts_in_one_run": (
        EXAMPLE.replace("rate_per_hour: 720", "rate_per_hour: 9000000")
               .replace("duration_s: 3600", "duration_s: 86400"),
        ("traffic: about 216,000,000 contacts expected", "10,000,000")),
    "peak_profile_weight_counts": (
        EXAMPLE.replace("rate_per_hour: 720", "rate_per_hour: 9000000")
        + "profile: {interval_s: 900, weights: [0.1, 2.0]}\n",
        ("x peak profile weight",)),
    "lognormal_sigma_that_overflows": (
        EXAMPLE.replace("{dist: exponential, mean_s: 180}",
                        "{dist: lognormal, mean_s: 180, sigma: 1.0e+200}"),
        ("traffic[0].handle_time.sigma: must be <= 10",)),
    "mean_beyond_a_month": (
        EXAMPLE.replace("mean_s: 180", "mean_s: 1.0e+300"),
        ("traffic[0].handle_time.mean_s: must be <= 2,678,400",)),
    "nesting_10000_deep": (
        EXAMPLE + "extra: " + "[" * 10000 + "]" * 10000 + "\n",
        ("(yaml): nested more than 64 levels deep",)),
    "integer_of_5000_digits": (
        EXAMPLE.replace("seed: 7", "seed: " + "9" * 5000),
        ("s.yaml:3: (yaml): not a valid int: too many digits",)),
    "date_that_does_not_exist": (
        EXAMPLE.replace("seed: 7", "seed: 2020-02-30"),
        ("s.yaml:3: (yaml): not a valid timestamp",)),
    "skill_named_by_a_number": (
        EXAMPLE.replace("  billing: {queueing", "  1: {queueing"),
        ("s.yaml:5: skills.1: a skill name must be a non-empty string",)),
    "a_100000_character_value_is_not_echoed": (
        EXAMPLE.replace("priority: medium", "priority: " + "x" * 100_000),
        ("traffic[0].priority: must be one of", "...")),
}


@pytest.mark.parametrize("name", sorted(FILE_CASES))
def test_a_bad_scenario_is_refused_by_simulate(tmp_path, name):
    text, words = FILE_CASES[name]
    path = scenario(tmp_path, text)
    assert_refused(vcc("simulate", path, "--no-progress", cwd=tmp_path), "vcc simulate: ",
                   *words)


def test_the_billion_laughs_is_refused_everywhere_a_yaml_file_is_read(tmp_path):
    assert len(billion_laughs().encode()) == 879
    path = scenario(tmp_path, billion_laughs())
    for args in (("trace", "generate", path, "-o", tmp_path / "t.csv"),
                 ("loadtest", path, "--target", "127.0.0.1:1", "--no-progress"),
                 ("serve", "--runtime", "inprocess", "--port", "0", "--config", path)):
        assert_refused(vcc(*args, cwd=tmp_path), "s.yaml:2: (yaml): anchors and aliases")
    mapping = scenario(tmp_path, "columns: &c {arrival: a}\nvalues: *c\n", "map.yaml")
    cdr = scenario(tmp_path, "a,b\n1,2\n", "cdr.csv")
    assert_refused(vcc("trace", "import", cdr, "--mapping", mapping, "-o", tmp_path / "t.csv",
                       cwd=tmp_path), "map.yaml:1: (yaml): anchors and aliases")


def test_a_bad_configuration_is_refused_by_serve(tmp_path):
    for text, words in (
            (FILE_CASES["skills_as_a_list_of_mappings"][0], "s.yaml:4: skills: must be a mapping"),
            (FILE_CASES["agents_10e11"][0], "sites.east.agents[0].count: must be an integer <= "),
            ("skills: {billing: {}}\nsites:\n  east:\n    agents:\n      - {ids: ["
             + "a" * 1000 + "], skills: {billing: 1}}\n", "an agent id has at most 128"),
    ):
        path = scenario(tmp_path, text)
        for runtime in ("inprocess", "ray"):     # the Ray runtime refuses it before Ray starts
            assert_refused(vcc("serve", "--runtime", runtime, "--port", "0", "--config", path,
                               cwd=tmp_path), "vcc serve: ", words)


def test_an_empirical_file_that_is_not_numbers_is_refused_without_its_content(tmp_path):
    secret = tmp_path / "passwd"
    secret.write_text("# seconds\n12.5\nroot:x:0:0:SECRET-CONTENT:/root:/bin/bash\n")
    text = EXAMPLE.replace("{dist: exponential, mean_s: 180}",
                           f"{{dist: empirical, file: {secret}}}")
    result = vcc("simulate", scenario(tmp_path, text), "--no-progress", cwd=tmp_path)
    assert_refused(result, f"{secret}:3: traffic[0].handle_time.file: not a number of seconds",
                   absent=("SECRET", "root:x"))
    for target, words in ((tmp_path, "Is a directory"), ("/dev/zero", "not a regular file"),
                          (tmp_path / "missing", "No such file")):
        text = EXAMPLE.replace("{dist: exponential, mean_s: 180}",
                               f"{{dist: empirical, file: {target}}}")
        assert_refused(vcc("simulate", scenario(tmp_path, text), "--no-progress", cwd=tmp_path),
                       "s.yaml:12: traffic[0].handle_time.file: ", words)


def test_files_that_are_not_files(tmp_path):
    for args, words in (
            (("simulate", "/dev/zero"), "/dev/zero: (file): not a regular file"),
            (("simulate", tmp_path), "(file): Is a directory"),
            (("simulate", tmp_path / "missing.yaml"), "No such file or directory"),
            (("serve", "--runtime", "inprocess", "--port", "0", "--config", "/dev/zero"),
             "not a regular file"),
            (("serve", "--runtime", "inprocess", "--port", "0", "--token-file", "/dev/zero"),
             "--token-file /dev/zero: cannot read (not a regular file)"),
            (("serve", "--runtime", "inprocess", "--port", "0", "--tls-cert", "/dev/zero",
              "--tls-key", "/dev/zero"), "--tls-cert /dev/zero: cannot read"),
            (("trace", "import", "/dev/zero", "--mapping", "/dev/zero", "-o",
              tmp_path / "t.csv"), "/dev/zero: (file): not a regular file"),
            (("status", "--etcd", "127.0.0.1:1", "--etcd-ca", "/dev/zero"),
             "--etcd-ca /dev/zero: cannot read (not a regular file)"),
    ):
        assert_refused(vcc(*args, cwd=tmp_path), words)


def test_a_trace_header_from_another_file_is_not_echoed(tmp_path):
    trace = tmp_path / "passwd.csv"
    trace.write_text("root:x:0:0:SECRET-CONTENT:/root:/bin/bash\n")
    assert_refused(vcc("trace", "check", trace, cwd=tmp_path),
                   "passwd.csv:1: (header field 1): unknown column", absent=("SECRET",))
    mapping = scenario(tmp_path, "columns: {arrival: start, handle_time_s: talk}\n"
                                 "defaults: {site: east, skill: billing}\n", "map.yaml")
    assert_refused(vcc("trace", "import", trace, "--mapping", mapping, "-o", tmp_path / "t.csv",
                       cwd=tmp_path), "columns.arrival: column 'start' is not in",
                   absent=("SECRET",))


# ---- flags --------------------------------------------------------------------------------------
def test_a_database_that_cannot_be_opened(tmp_path):
    missing = f"sqlite:///{tmp_path}/no/such/dir/x.db"
    example = ROOT / "loadtests" / "examples" / "one_site.yaml"
    for args in (("simulate", example, "--no-progress", "--db", missing),
                 ("serve", "--runtime", "inprocess", "--port", "0", "--db", missing),
                 ("serve", "--runtime", "ray", "--port", "0", "--db", missing),
                 ("simulate", example, "--no-progress", "--db", f"sqlite:///{tmp_path}")):
        assert_refused(vcc(*args, cwd=tmp_path), "--db: ")
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("not a database\n" * 100)
    assert_refused(vcc("simulate", example, "--no-progress", "--db", f"sqlite:///{not_a_db}",
                       cwd=tmp_path), "--db: cannot open", "file is not a database")
    # A repair or a report never creates the database it is pointed at.
    for args in (("store", "repair", "--db", f"sqlite:///{tmp_path}/absent.db"),
                 ("report", "--db", f"sqlite:///{tmp_path}/absent.db")):
        assert_refused(vcc(*args, cwd=tmp_path), "--db: no such database file")
    assert not (tmp_path / "absent.db").exists()
    # A refused PostgreSQL connection (loopback, a closed port): named, password hidden.
    result = vcc("simulate", example, "--no-progress", "--db",
                 "postgresql+psycopg://vcc:hunter2@127.0.0.1:1/x", cwd=tmp_path)
    assert_refused(result, "--db: cannot open postgresql+psycopg://vcc:***@127.0.0.1:1/x",
                   absent=("hunter2",))


def test_serve_on_a_port_in_use(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        for runtime in ("inprocess", "ray"):
            assert_refused(vcc("serve", "--runtime", runtime, "--port", port, cwd=tmp_path),
                           f"--port {port}: 127.0.0.1:{port} is in use")


@pytest.mark.parametrize("host, words", [
    ("nosuch..host", "--host: 'nosuch..host' is not an IP address or a host name"),
    ("1.2.3.4.5", "--host: '1.2.3.4.5' is not an IP address or a host name"),
    ("999.1.1.1", "--host: '999.1.1.1' is not an IP address or a host name"),
    ("", "--host: must be an IP address or a host name"),
    ("a" * 300, "is not an IP address or a host name"),
])
def test_serve_on_a_host_that_is_no_address(tmp_path, host, words):
    assert_refused(vcc("serve", "--runtime", "inprocess", "--port", "0", "--insecure",
                       "--host", host, cwd=tmp_path), words)


@pytest.mark.parametrize("args, words", [
    (("report", "--interval", "1000000000000000000000000000000s"), "--interval: at most 366d"),
    (("report", "--interval", "367d"), "--interval: at most 366d"),
    (("report", "--interval", "9" * 400 + "d"), "--interval: at most 366d"),
    (("report", "--from", "1e30"), "--from: must be a finite number of seconds within the years"),
    (("report", "--to", "10000-01-01"), "--to: must be seconds or an ISO time"),
    (("report", "--from", "9999-12-31T23:59:59-10:00"), "--from: must be within the years"),
    (("loadtest", "t.csv", "--target", "127.0.0.1:1", "--speed", "nan"), "--speed: must be"),
    (("loadtest", "t.csv", "--target", "127.0.0.1:1", "--speed", "1e-300"), "--speed: must be"),
    (("loadtest", "t.csv", "--target", "127.0.0.1:1", "--drain", "inf"), "--drain: must be"),
    (("loadtest", "t.csv", "--target", "127.0.0.1:1", "--duration", "nan"), "--duration: must"),
    (("loadtest", "t.csv", "--target", "127.0.0.1:1", "--max-contacts", "0"), "--max-contacts"),
    (("demo", "--speed", "0"), "--speed: must be"),
    (("rebalance", "--timeout", "nan"), "--timeout: must be"),
    (("serve", "--port", "99999"), "--port: must be 0..65535"),
])
def test_numbers_out_of_range_name_the_flag(tmp_path, args, words):
    assert_refused(vcc(*args, cwd=tmp_path), words)


def test_report_refuses_a_chart_it_cannot_draw_before_reading(tmp_path):
    example = ROOT / "loadtests" / "examples" / "one_site.yaml"
    db = f"sqlite:///{tmp_path}/day.db"
    assert vcc("simulate", example, "--no-progress", "--db", db, cwd=tmp_path).returncode == 0
    assert_refused(vcc("report", "--db", db, "--png", tmp_path / "chart.foo", cwd=tmp_path),
                   "--png: the chart is a PNG file")
    result = vcc("report", "--db", db, "--interval", "366d", cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


# ---- the reader itself (in process: fast) ---------------------------------------------------------
def test_anchors_are_refused_even_when_harmless():
    with pytest.raises(ConfigFileError, match=r"f.yaml:2: \(yaml\): anchors and aliases"):
        parse_yaml("a: 1\nb: &x 2\n", "f.yaml")
    with pytest.raises(ConfigFileError, match="anchors and aliases"):
        parse_yaml("a: *x\n", "f.yaml")


def test_read_text_is_bounded(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * (4 * 1024 * 1024 + 1))
    with pytest.raises(ConfigFileError, match=r"big.yaml: \(file\): larger than 4 MiB"):
        read_text(str(big))
    big.write_bytes(b"a: 1\n\xff\n")
    with pytest.raises(ConfigFileError, match=r"big.yaml:2: \(file\): not UTF-8 text"):
        read_text(str(big))


def test_values_in_errors_are_cut_to_about_80_characters():
    text = EXAMPLE.replace(
        "priority: medium", "priority: [" + ", ".join(["x" * 50] * 1000) + "]")
    with pytest.raises(ConfigFileError) as error:
        parse_scenario(text, "s.yaml")
    assert len(error.value.problem) < 200, error.value.problem
    long_key = EXAMPLE + "? " + "k" * 10_000 + "\n: 1\n"      # an explicit key: any length
    with pytest.raises(ConfigFileError, match="unknown key") as error:
        parse_scenario(long_key, "s.yaml")
    assert len(str(error.value)) < 300


def test_the_bounds_themselves_are_accepted():
    """At the bounds a file is valid (a real center's month fits)."""
    text = (EXAMPLE.replace("duration_s: 3600", "duration_s: 2678400")
            .replace("count: 40", "count: 100000")
            .replace("rate_per_hour: 720", "rate_per_hour: 13000"))
    loaded = parse_scenario(text, "s.yaml")
    assert loaded.duration_s == 2678400 and loaded.sites["east"][0].count == 100000
