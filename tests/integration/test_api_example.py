"""README's API walk-through (docs/api_example.py) runs as written against the bundled
two-site configuration, and every contact it makes ends in exactly one final state."""

import importlib.util
import pathlib

from cluster.config import DEFAULT_CONFIG

EXAMPLE = pathlib.Path(__file__).parents[2] / "docs" / "api_example.py"


def test_api_example_runs(make_cluster, capsys):
    spec = importlib.util.spec_from_file_location("api_example", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    with make_cluster(DEFAULT_CONFIG.read_text()) as cluster:
        cluster.run(example.main(f"127.0.0.1:{cluster.port}"))
        assert cluster.host.final_state("crm-42")[0].value == "completed"
        assert cluster.host.final_state("call-7")[0].value == "completed"
        cluster.seen_contacts.update({"crm-42", "call-7"})
    out = capsys.readouterr().out
    assert "RouteContact: offer east-g0-0" in out
    assert "router: route_to_agent" in out and "router: finished" in out
    assert "agent: AGENT_STATE_LOGGED_OUT" in out


def test_readme_shows_the_example_as_it_is():
    readme = (EXAMPLE.parents[1] / "README.md").read_text()
    code = EXAMPLE.read_text()
    body = code[code.index("async def main"):code.index("\n\nif __name__")]
    assert f"```python\n{body}\n```" in readme
