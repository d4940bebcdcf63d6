"""The configuration tables kept by `vcc serve --db` (cluster/store/configs.py
`save_site_changes`, cluster/store/config_tables.py): after the first write, a change writes
only the rows that differ, and the tables then read back exactly as the site is configured."""

from __future__ import annotations

import asyncio
import dataclasses
import random

import sqlalchemy as sa

from cluster.config import parse_config
from cluster.host import CoreHost
from cluster.store.config_tables import ConfigTables
from cluster.store.configs import load_sites, save_site_changes, save_sites
from cluster.store.db import open_engine
from cluster.store.migrate import upgrade
from sites.model import AgentConfig, Priority, SiteConfig, SkillConfig


def _engine(tmp_path):
    engine = open_engine(f"sqlite:///{tmp_path}/vcc.db")
    upgrade(engine)
    return engine


def _as_stored(site: SiteConfig) -> SiteConfig:
    """The site as load_sites gives it back: skills and agents by name, objectives apart."""
    return SiteConfig(site.name,
                      tuple(sorted((dataclasses.replace(skill, service_objectives={})
                                    for skill in site.skills), key=lambda skill: skill.name)),
                      tuple(sorted(site.agents, key=lambda agent: agent.agent_id)),
                      site.auto_pause_after_misses, site.statistics_window_s)


def _changed(site: SiteConfig, objectives: dict, rng: random.Random) -> tuple:
    """`site` with one random change: a skill or agent added, changed or removed, the
    objectives or the site's options changed."""
    skills = {skill.name: skill for skill in site.skills}
    agents = {agent.agent_id: agent for agent in site.agents}
    objectives = {skill: dict(by) for skill, by in objectives.items()}
    kind = rng.choice(["add skill", "change skill", "remove skill", "add agent",
                       "change agent", "remove agent", "objectives", "options"])
    auto_pause, window = site.auto_pause_after_misses, site.statistics_window_s
    if kind == "add skill" or not skills:
        name = f"s{rng.randrange(1000)}"
        skills[name] = SkillConfig(name, sl_threshold_s=rng.choice([10.0, 20.0]))
    elif kind == "change skill":
        name = rng.choice(sorted(skills))
        skills[name] = dataclasses.replace(skills[name], wrap_up_s=rng.choice([0.0, 5.0, 9.0]))
    elif kind == "remove skill" and len(skills) > 1:
        name = rng.choice(sorted(skills))
        del skills[name]
        objectives.pop(name, None)
        for agent_id, agent in list(agents.items()):
            if name in agent.skills:
                left = {skill: level for skill, level in agent.skills.items() if skill != name}
                if left:
                    agents[agent_id] = dataclasses.replace(agent, skills=left)
                else:
                    del agents[agent_id]
    elif kind == "add agent" or not agents:
        agent_id = f"a{rng.randrange(10_000)}"
        agents[agent_id] = AgentConfig(agent_id, {rng.choice(sorted(skills)): rng.randint(1, 9)})
    elif kind == "change agent":
        agent_id = rng.choice(sorted(agents))
        agents[agent_id] = dataclasses.replace(agents[agent_id], skills={
            skill: rng.randint(1, 9) for skill in rng.sample(sorted(skills),
                                                              min(2, len(skills)))})
    elif kind == "remove agent":
        del agents[rng.choice(sorted(agents))]
    elif kind == "objectives":
        skill = rng.choice(sorted(skills))
        objectives[skill] = {Priority.HIGH: rng.choice([5.0, 8.0])} if rng.random() < 0.7 else {}
        objectives = {skill: by for skill, by in objectives.items() if by}
    else:
        auto_pause, window = rng.randint(1, 5), rng.choice([300.0, 900.0])
    return SiteConfig(site.name, tuple(skills.values()), tuple(agents.values()), auto_pause,
                      window), objectives


def test_any_sequence_of_changes_reads_back_as_the_site_is_configured(tmp_path):
    engine = _engine(tmp_path)
    rng = random.Random(7)
    site = SiteConfig("east", (SkillConfig("billing"), SkillConfig("sales")),
                      (AgentConfig("ann", {"billing": 1}), AgentConfig("bob", {"sales": 2})))
    objectives = {"billing": {Priority.TOP: 5.0}}
    save_sites(engine, [site], objectives)
    for step in range(150):                 # bounded
        after, objectives_after = _changed(site, objectives, rng)
        save_site_changes(engine, site, after, objectives, objectives_after)
        stored, stored_objectives = load_sites(engine)
        assert stored == {"east": _as_stored(after)}, step
        assert stored_objectives.get("east", {}) == objectives_after, step
        site, objectives = after, objectives_after
    engine.dispose()


def test_one_agent_changed_in_a_site_of_5000_writes_a_few_rows(tmp_path):
    engine = _engine(tmp_path)
    skills = tuple(SkillConfig(f"s{n}") for n in range(10))
    agents = tuple(AgentConfig(f"a{n}", {f"s{n % 10}": 1, f"s{(n + 1) % 10}": 2})
                   for n in range(5000))
    site = SiteConfig("east", skills, agents)
    save_sites(engine, [site])
    changed = dataclasses.replace(agents[42], skills={"s3": 4})
    after = dataclasses.replace(site, agents=agents[:42] + (changed,) + agents[43:])
    # Deleted: 2 agent skills and the agent; written: the agent and its 1 skill.
    assert save_site_changes(engine, site, after) == 5
    assert load_sites(engine)[0]["east"] == _as_stored(after)
    assert save_site_changes(engine, after, after) == 0
    engine.dispose()


CENTER = """\
skills:
  billing: {sl_threshold_s: 20}
sites:
  east:
    agents:
      - {ids: [ann, bob], skills: {billing: 1}}
  west:
    agents:
      - {ids: [cy], skills: {billing: 2}}
routing: {multisite: local}
"""


def test_a_change_of_one_site_rewrites_only_what_differs_there(tmp_path):
    engine = _engine(tmp_path)
    config = parse_config(CENTER)
    host = CoreHost(config, clock=lambda: 0.0)
    tables = ConfigTables(engine, config, delay_s=0.0)

    async def main():
        await tables.write(host)                        # the first: every site in full
        await host.put_agent("east", AgentConfig("dee", {"billing": 3}))
        tables.changed(host, "east")
        await tables.close()
        rows_after_put = tables.rows_written
        await host.delete_site("west")
        tables.changed(host, "west")
        await tables.close()
        return rows_after_put

    rows_after_put = asyncio.run(main())
    assert rows_after_put == 2                          # dee and its one skill
    stored, _ = load_sites(engine)
    assert sorted(stored) == ["east"]
    assert sorted(agent.agent_id for agent in stored["east"].agents) == ["ann", "bob", "dee"]
    with engine.connect() as connection:
        assert connection.execute(sa.text("SELECT count(*) FROM agent_skills")).scalar() == 3
    assert tables.writes == 3
    engine.dispose()
