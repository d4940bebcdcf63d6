"""`vcc customers import` and `vcc marketing import-targets` (cluster/customers/importer.py):
strict (every problem is `file:line: column: problem`, exit 2, nothing imported), idempotent
(the same file twice changes nothing; a changed row updates), numbers never in clear in
problems.

The `check_*` functions run on PostgreSQL too (tests/integration/test_customers_postgres.py).
"""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from cluster.cli import main
from cluster.customers.csv_rows import ImportRefused
from cluster.customers.importer import CHUNK, import_customers, import_targets
from cluster.store.models import Customer, CustomerAccount, CustomerPhone, MarketingTarget

HEADER = "customer_id,name,email,address,tier,phones,accounts,attributes\n"
GOOD = (HEADER
        + 'c1,Ada Lovelace,ada@example.com,"1 Loop Rd\nLondon",gold,'
          '+44 20 7946 0958;(415) 555-2671,ACC-1,"{""segment"": ""smb""}"\n'
        + "c2,Bob,,,,+1 415 555 0100,99887766;ACC-2,\n"
        + "\n"                                              # empty lines are skipped
        + "c3,Cy,,,platinum,,,\n")
TARGETS = ("customer_id,product,phone,list\n"
           "c1,fibre,+1 415 555 2671,spring\n"
           "c2,fibre,,spring\n"
           "c2,mobile,(415) 555-0100,\n")


def dump(engine) -> dict:
    tables = (Customer, CustomerPhone, CustomerAccount, MarketingTarget)
    with engine.connect() as connection:
        return {model.__tablename__: sorted(
            tuple(json.dumps(value, sort_keys=True) if isinstance(value, dict) else value
                  for value in row)
            for row in connection.execute(sa.select(model.__table__))) for model in tables}


def write(tmp_path, text: str, name: str = "customers.csv"):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return str(path)


def check_import_is_idempotent(engine, tmp_path) -> None:
    path = write(tmp_path, GOOD)
    first = import_customers(engine, path, region="US")
    assert (first.rows, first.added, first.updated, first.unchanged) == (3, 3, 0, 0)
    stored = dump(engine)
    assert stored["customer_phones"] == [("+14155550100", "c2"), ("+14155552671", "c1"),
                                         ("+442079460958", "c1")]
    assert stored["customer_accounts"] == [("99887766", "c2"), ("ACC-1", "c1"),
                                           ("ACC-2", "c2")]
    ada = [row for row in stored["customers"] if row[0] == "c1"][0]
    assert ada[1:5] == ("Ada Lovelace", "ada@example.com", "1 Loop Rd\nLondon", "gold")
    assert json.loads(ada[5]) == {"segment": "smb"}
    again = import_customers(engine, path, region="US")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert dump(engine) == stored
    # A changed row updates, numbers included; rows not in the file stay.
    changed = write(tmp_path, HEADER + "c2,Bob B,,,silver,+1 415 555 0199,ACC-2,\n",
                    "changed.csv")
    result = import_customers(engine, changed, region="US")
    assert (result.added, result.updated, result.unchanged) == (0, 1, 0)
    after = dump(engine)
    assert ("c2", "Bob B", None, None, "silver", "{}") in after["customers"]
    assert ("+14155550199", "c2") in after["customer_phones"]
    assert ("+14155550100", "c2") not in after["customer_phones"]
    assert ("99887766", "c2") not in after["customer_accounts"]
    assert len(after["customers"]) == 3
    # A number moves between two customers of one file.
    moved = write(tmp_path, HEADER + "c1,Ada Lovelace,ada@example.com,,gold,+1 415 555 0199,,\n"
                  "c2,Bob B,,,silver,,ACC-2,\n", "moved.csv")
    import_customers(engine, moved, region="US")
    assert ("+14155550199", "c1") in dump(engine)["customer_phones"]


def test_import_is_idempotent(engine, tmp_path):
    check_import_is_idempotent(engine, tmp_path)


BAD_FILES = [
    ("", "customers.csv:1: (header): empty file"),
    ("name,email\nAda,\n", "customers.csv:1: customer_id: missing column (required)"),
    ("customer_id,name,colour\nc1,Ada,red\n", "customers.csv:1: colour: unknown column"),
    ("customer_id,name,name\nc1,Ada,Ada\n", "customers.csv:1: name: column given twice"),
    (HEADER + "c1,Ada,,,,,,\nc2,,,,,,,\n", "customers.csv:3: name: empty (required)"),
    (HEADER + "c1,Ada,not-an-email,,,,,\n", "customers.csv:2: email: not an e-mail address"),
    (HEADER + "c1,Ada,,,Gold!,,,\n", "customers.csv:2: tier: a tier is a lowercase name"),
    (HEADER + "c1,Ada,,,,+1 415 555 2671;+1 555,,\n",
     "customers.csv:2: phones: number 2: '+1 555': not a possible number"),
    (HEADER + "c1,Ada,,,,020 7946 0958,,\n",
     "customers.csv:2: phones: number 1: '*** **** 0958': no valid country code"),
    (HEADER + "c1,Ada,,,,,,[1]\n", "customers.csv:2: attributes: not a JSON object"),
    (HEADER + "c1,Ada,,,,,,{oops\n", "customers.csv:2: attributes: not JSON"),
    (HEADER + "c1,Ada,,,,,ACC 1,\n", "customers.csv:2: accounts: account 1"),
    (HEADER + "c1,Ada\n", "customers.csv:2: (row): 2 fields; the header has 8"),
    (HEADER + "c1,Ada,,,,,,\nc1,Ada,,,,,,\n",
     "customers.csv:3: customer_id: 'c1' again (first on line 2)"),
    (HEADER + "c1,Ada,,,,+14155552671,,\nc2,Bob,,,,+1 (415) 555-2671,,\n",
     "customers.csv:3: phones: +*******2671 is also on line 2 (customer 'c1')"),
    (HEADER + "c1,Ada,,,,,X1,\nc2,Bob,,,,,X1;X2,\n", "customers.csv:3: accounts: X1 is also on line 2 (customer 'c1')"),
    (HEADER.encode() + b"c1,Ad\xe9,,,,,,\n", "customers.csv:2: (line): not UTF-8 (byte 6)"),
    (HEADER + 'c1,"Ada,,,,,,\n', "customers.csv:2: (row): not CSV"),
    (HEADER + "c1,Ada\x07,,,,,,\n", "customers.csv:2: name: contains control characters"),
]


@pytest.mark.parametrize("text, problem", BAD_FILES)
def test_a_bad_file_names_file_line_and_column_and_imports_nothing(engine, tmp_path, text,
                                                                  problem):
    path = write(tmp_path, text)
    with pytest.raises(ImportRefused) as refused:
        import_customers(engine, path, display="customers.csv")
    assert str(refused.value.problems[0]).startswith(problem), str(refused.value)
    assert dump(engine)["customers"] == []


def test_every_problem_is_reported_up_to_a_limit(engine, tmp_path):
    rows = "".join(f"c{i},,,,,,,\n" for i in range(30))
    with pytest.raises(ImportRefused) as refused:
        import_customers(engine, write(tmp_path, HEADER + rows), display="f.csv")
    assert len(refused.value.problems) == 20 and refused.value.more
    assert [problem.line for problem in refused.value.problems] == list(range(2, 22))


def check_a_number_of_a_customer_not_in_the_file_stops_it(engine, tmp_path) -> None:
    import_customers(engine, write(tmp_path, GOOD), region="US")
    before = dump(engine)
    clash = write(tmp_path, HEADER + "c9,Eve,,,,,,\nc4,Dan,,,,+1 415 555 2671,,\n", "clash.csv")
    with pytest.raises(ImportRefused) as refused:
        import_customers(engine, clash, display="clash.csv")
    assert str(refused.value) == (
        "clash.csv:3: phones: +*******2671 belongs to customer 'c1' in the store: a number "
        "belongs to one customer")
    assert dump(engine) == before                   # c9, on a good line, is not there either


def test_a_number_of_a_customer_not_in_the_file_stops_it(engine, tmp_path):
    check_a_number_of_a_customer_not_in_the_file_stops_it(engine, tmp_path)


def check_a_large_file_reads_the_store_through_key_tables(engine, tmp_path) -> None:
    """More keys than one IN (...) takes (importer.CHUNK): the store's rows are read by
    joining temporary key tables; a change and a clash are found the same way."""
    count = CHUNK + 100
    rows = "".join(f"k{i:04d},N{i},,,,+1 415 555 {i:04d},A{i},\n" for i in range(count))
    first = import_customers(engine, write(tmp_path, HEADER + rows, "large.csv"))
    assert (first.added, first.updated) == (count, 0)
    changed = rows.replace("k0007,N7,", "k0007,Seven,")
    again = import_customers(engine, write(tmp_path, HEADER + changed, "changed.csv"))
    assert (again.added, again.updated, again.unchanged) == (0, 1, count - 1)
    before = dump(engine)
    clash = "".join(f"z{i:04d},Z{i},,,,,B{i},\n" for i in range(count)) + \
        "z9999,Zed,,,,,A3,\n"
    with pytest.raises(ImportRefused) as refused:
        import_customers(engine, write(tmp_path, HEADER + clash, "clash.csv"), display="c.csv")
    assert str(refused.value).startswith(f"c.csv:{count + 2}: accounts: ")
    assert "belongs to customer 'k0003' in the store" in str(refused.value)
    assert dump(engine) == before


def test_a_large_file_reads_the_store_through_key_tables(engine, tmp_path):
    check_a_large_file_reads_the_store_through_key_tables(engine, tmp_path)


def check_targets(engine, tmp_path) -> None:
    import_customers(engine, write(tmp_path, GOOD), region="US")
    path = write(tmp_path, TARGETS, "targets.csv")
    first = import_targets(engine, path, region="US")
    assert (first.added, first.updated, first.unchanged) == (3, 0, 0)
    stored = dump(engine)
    assert stored["marketing_targets"] == [("c1", "fibre", "+14155552671", "spring"),
                                           ("c2", "fibre", None, "spring"),
                                           ("c2", "mobile", "+14155550100", "")]
    again = import_targets(engine, path, region="US")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)
    assert dump(engine) == stored
    changed = write(tmp_path, "customer_id,product,list\nc2,fibre,summer\n", "changed.csv")
    assert import_targets(engine, changed).updated == 1
    assert ("c2", "fibre", None, "summer") in dump(engine)["marketing_targets"]
    unknown = write(tmp_path, "customer_id,product\nc1,tv\nc7,tv\n", "unknown.csv")
    with pytest.raises(ImportRefused) as refused:
        import_targets(engine, unknown, display="unknown.csv")
    assert str(refused.value) == ("unknown.csv:3: customer_id: no customer 'c7' in the store "
                                  "(import customers first)")
    assert ("c1", "tv", None, "") not in dump(engine)["marketing_targets"]


def test_targets(engine, tmp_path):
    check_targets(engine, tmp_path)


@pytest.mark.parametrize("text, problem", [
    ("customer_id,phone\nc1,\n", "t.csv:1: product: missing column (required)"),
    ("customer_id,product\nc1,tv\nc1,tv\n",
     "t.csv:3: product: customer 'c1' and product 'tv' again (first on line 2)"),
    ("customer_id,product,phone\nc1,tv,12\n", "t.csv:2: phone: '12': "),
    ("customer_id,product\nc1,\n", "t.csv:2: product: empty (required)"),
])
def test_bad_target_files(engine, tmp_path, text, problem):
    with pytest.raises(ImportRefused) as refused:
        import_targets(engine, write(tmp_path, text), display="t.csv")
    assert str(refused.value.problems[0]).startswith(problem), str(refused.value)


def test_the_commands(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/vcc.db"
    customers = write(tmp_path, GOOD)
    assert main(["customers", "import", customers, "--db", url, "--region", "US"]) == 0
    out = capsys.readouterr().out
    assert "3 rows in" in out and "3 new, 0 updated, 0 unchanged" in out
    assert main(["customers", "import", customers, "--db", url, "--region", "US"]) == 0
    assert "0 new, 0 updated, 3 unchanged" in capsys.readouterr().out
    targets = write(tmp_path, TARGETS, "targets.csv")
    assert main(["marketing", "import-targets", targets, "--db", url, "--region", "US"]) == 0
    assert "3 new" in capsys.readouterr().out
    bad = write(tmp_path, HEADER + "c5,Eve,,,,+1 415 555 2671,,\n", "bad.csv")
    assert main(["customers", "import", bad, "--db", url]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:2: phones: +*******2671 belongs to customer 'c1'" in err
    assert "nothing imported" in err and "4155552671" not in err
    assert main(["customers", "import", str(tmp_path / "none.csv"), "--db", url]) == 2
    assert "cannot read (No such file or directory)" in capsys.readouterr().err
    assert main(["customers", "import", customers, "--db", url, "--region", "XX"]) == 2
    assert "--region: 'XX'" in capsys.readouterr().err
    assert main(["customers", "import", customers, "--db",
                 f"sqlite:///{tmp_path}/no/such/dir.db"]) == 2
    assert "--db:" in capsys.readouterr().err
