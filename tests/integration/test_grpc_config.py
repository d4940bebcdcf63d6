"""The cluster configuration file the gRPC server starts from: the bundled default, agent
groups by count or by ids, defaults, and bad files named by file, line and key. (No
sockets: it lives here because it is the server's configuration.)"""

from __future__ import annotations

import pathlib

import pytest

from cluster.config import DEFAULT_CONFIG, ConfigFileError, load_config, parse_config
from sites.model import Channel, Priority

EXAMPLES = sorted((pathlib.Path(__file__).parents[2] / "loadtests" / "examples").glob("*.yaml"))

MINIMAL = """\
skills:
  billing: {}
sites:
  east:
    agents:
      - {ids: [ann, bob], skills: {billing: 1}}
"""


def test_the_bundled_default_has_two_sites_of_ten_agents():
    config = load_config()
    assert config.path == str(DEFAULT_CONFIG)
    assert set(config.sites) == {"east", "west"}
    assert set(config.skills) == {"billing", "sales"}
    for site in config.sites.values():
        assert len(site.agents) == 10
        assert {skill.name for skill in site.skills} == {"billing", "sales"}
    assert config.multisite == "bsr" and config.bsr.hop_limit == 1
    assert config.service_objectives["billing"][Priority.TOP] == 10


def test_groups_by_count_and_by_ids_and_the_defaults():
    config = parse_config(MINIMAL + """\
      - {count: 2, skills: {billing: 3}, channels: {chat: 2}, wrap_up_s: 5,
         call_selection: skill_level, voice_blocks_others: false}
""")
    agents = {agent.agent_id: agent for agent in config.sites["east"].agents}
    assert list(agents) == ["ann", "bob", "east-g1-0", "east-g1-1"]
    assert agents["ann"].channels == {Channel.VOICE: 1}
    assert agents["ann"].wrap_up_s is None            # omitted: the skill's wrap-up
    assert agents["east-g1-0"].wrap_up_s == 5.0
    assert agents["east-g1-0"].channels == {Channel.CHAT: 2}
    assert not agents["east-g1-1"].voice_blocks_others
    assert config.multisite == "local" and config.bsr.adjust_by == 0
    assert config.service_objectives == {"billing": {}}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.name)
def test_a_scenario_file_is_a_configuration(path):
    config = load_config(path)
    assert config.sites


def edit(text, old, new):
    assert old in text, old
    return text.replace(old, new, 1)


BAD = [
    ("unknown top-level key", lambda t: t + "colour: red\n", 7, "colour", "unknown key"),
    ("count and ids", lambda t: edit(t, "{ids: [ann, bob],", "{count: 1, ids: [ann],"), 6,
     "sites.east.agents[0].count", "exactly one"),
    ("neither count nor ids", lambda t: edit(t, "{ids: [ann, bob], ", "{"), 6,
     "sites.east.agents[0].count", "exactly one"),
    ("ids not a list", lambda t: edit(t, "[ann, bob]", "ann"), 6, "sites.east.agents[0].ids",
     "non-empty list"),
    ("an empty id", lambda t: edit(t, "[ann, bob]", "[ann, '']"), 6, "sites.east.agents[0].ids",
     "non-empty strings"),
    ("duplicate agent", lambda t: edit(t, "[ann, bob]", "[ann, ann]"), 6,
     "sites.east.agents[0].ids", "already defined"),
    ("unknown agent key", lambda t: edit(t, "skills: {billing: 1}}", "skills: {billing: 1}, x: 1}"),
     6, "sites.east.agents[0].x", "unknown key"),
    ("agent with an undefined skill", lambda t: edit(t, "{billing: 1}}", "{sales: 1}}"), 6,
     "sites.east.agents[0].skills.sales", "unknown skill"),
    ("level out of range", lambda t: edit(t, "{billing: 1}}", "{billing: 0}}"), 6,
     "sites.east.agents[0].skills.billing", "1..16"),
    ("bad service objective priority",
     lambda t: edit(t, "billing: {}", "billing: {service_objectives: {urgent: 5}}"), 2,
     "skills.billing.service_objectives.urgent", "unknown key"),
    ("negative service objective",
     lambda t: edit(t, "billing: {}", "billing: {service_objectives: {top: -5}}"), 2,
     "skills.billing.service_objectives.top", "must be >"),
    ("bad skill setting", lambda t: edit(t, "billing: {}", "billing: {wrap_up_s: -1}"), 2,
     "skills.billing.wrap_up_s", ""),
    ("agents not a list", lambda t: t.replace("    agents:\n      - {ids: [ann, bob], skills: {billing: 1}}\n",
                                              "    agents: 3\n"), 5, "sites.east.agents",
     "must be a list"),
    ("bad site setting", lambda t: edit(t, "  east:\n", "  east:\n    auto_pause_after_misses: 0\n"),
     5, "sites.east.auto_pause_after_misses", "integer >= 1"),
    ("bad multisite", lambda t: t + "routing: {multisite: everywhere}\n", 7, "routing.multisite",
     "must be one of"),
    ("bad hop limit", lambda t: t + "routing: {multisite: bsr, hop_limit: -1}\n", 7,
     "routing.hop_limit", "integer >= 0"),
    ("no sites", lambda t: t.split("sites:")[0], 1, "sites", "required"),
    ("not YAML", lambda t: edit(t, "billing: {}", "billing: {"), None, "(yaml)", ""),
]


@pytest.mark.parametrize("make,line,key,words", [row[1:] for row in BAD], ids=[row[0] for row in BAD])
def test_a_bad_configuration_names_file_line_and_key(tmp_path, make, line, key, words):
    path = tmp_path / "cluster.yaml"
    path.write_text(make(MINIMAL))
    with pytest.raises(ConfigFileError) as raised:
        load_config(path)
    error = raised.value
    assert (error.path, error.key) == (str(path), key)
    assert words in error.problem
    if line is not None:
        assert error.line == line
        assert str(error).startswith(f"{path}:{line}: {key}: ")


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigFileError) as raised:
        load_config(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(raised.value) and raised.value.key == "(file)"
