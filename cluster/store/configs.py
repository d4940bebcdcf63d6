"""The configuration tables: sites, skills, agents, agent skills and service objectives.

They describe the center as it is configured now (for reports: which agents have which
skill; for tools that read the setup without parsing YAML). The journal, not these tables,
is what recovery trusts: a site's past is its snapshots and entries.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from cluster.store.models import Agent, AgentSkill, ServiceObjective, Site, Skill
from sites.model import AgentConfig, Priority, SiteConfig, SkillConfig
from sites.state import config_to_dict

SITES, SKILLS, AGENTS = Site.__table__, Skill.__table__, Agent.__table__
AGENT_SKILLS, OBJECTIVES = AgentSkill.__table__, ServiceObjective.__table__


def save_sites(engine: Engine, sites, objectives: dict | None = None) -> None:
    """Replace the rows of each SiteConfig in `sites` (its skills and agents included);
    `objectives`: {skill name: {Priority or name: seconds}}, the same at every site."""
    sites = list(sites)
    with engine.begin() as connection:
        names = [site.name for site in sites]
        connection.execute(SITES.delete().where(SITES.c.name.in_(names)))   # cascades
        for table in (OBJECTIVES, AGENT_SKILLS, AGENTS, SKILLS):   # SQLite without FK support
            connection.execute(table.delete().where(table.c.site.in_(names)))
        for site in sites:
            connection.execute(SITES.insert(), {
                "name": site.name, "auto_pause_after_misses": site.auto_pause_after_misses,
                "statistics_window_s": site.statistics_window_s})
            if site.skills:
                # Objectives have a table of their own (below).
                connection.execute(SKILLS.insert(), [_skill_row(site.name, skill)
                                                     for skill in site.skills])
            if site.agents:
                rows, levels = _agent_rows(site.name, site.agents)
                connection.execute(AGENTS.insert(), rows)
                if levels:
                    connection.execute(AGENT_SKILLS.insert(), levels)
            rows = _objective_rows(site, objectives)
            if rows:
                connection.execute(OBJECTIVES.insert(), rows)


def _skill_row(site: str, skill: SkillConfig) -> dict:
    return {"site": site, **{key: value for key, value in config_to_dict(skill).items()
                             if key != "service_objectives"}}


def _agent_rows(site: str, agents) -> tuple[list, list]:
    rows = [{"site": site, **{key: value for key, value in config_to_dict(agent).items()
                              if key != "skills"}} for agent in agents]
    levels = [{"site": site, "agent_id": agent.agent_id, "skill": skill, "level": level}
              for agent in agents for skill, level in agent.skills.items()]
    return rows, levels


def _objective_rows(site: SiteConfig, objectives: dict | None) -> list:
    return [{"site": site.name, "skill": skill, "seconds": float(seconds),
             "priority": priority.name.lower() if isinstance(priority, Priority)
             else str(priority)}
            for skill, by_priority in (objectives or {}).items()
            if any(config.name == skill for config in site.skills)
            for priority, seconds in by_priority.items()]


def _in_chunks(values: list, size: int = 500):
    """`values` in slices a statement's IN list takes on every database."""
    for start in range(0, len(values), size):
        yield values[start:start + size]


def save_site_changes(engine: Engine, before: SiteConfig, after: SiteConfig,
                      objectives_before: dict | None = None,
                      objectives_after: dict | None = None) -> int:
    """Bring a site's rows from `before` (what the tables hold) to `after`, writing only the
    skills, agents and objectives that differ (a center of 50,000 agents changes one at a
    time); the rows written or deleted. Same site name."""
    name = after.name
    skills_then = {skill.name: skill for skill in before.skills}
    skills_now = {skill.name: skill for skill in after.skills}
    agents_then = {agent.agent_id: agent for agent in before.agents}
    agents_now = {agent.agent_id: agent for agent in after.agents}
    skills_gone = [skill for skill in skills_then if skill not in skills_now]
    skills_changed = [skill for skill, config in skills_now.items()
                      if skill in skills_then and skills_then[skill] != config]
    skills_new = [config for skill, config in skills_now.items() if skill not in skills_then]
    agents_out = [agent for agent, config in agents_then.items()
                  if agents_now.get(agent) != config]           # deleted or changed
    agents_in = [config for agent, config in agents_now.items()
                 if agents_then.get(agent) != config]           # new or changed
    objectives_out = _objective_rows(before, objectives_before)
    objectives_in = _objective_rows(after, objectives_after)
    objectives_differ = sorted(map(repr, objectives_out)) != sorted(map(repr, objectives_in))
    written = 0
    with engine.begin() as connection:
        # Children before parents (agent skills and objectives name skills and agents).
        for chunk in _in_chunks(agents_out):
            for table in (AGENT_SKILLS, AGENTS):
                written += connection.execute(table.delete().where(
                    table.c.site == name, table.c.agent_id.in_(chunk))).rowcount
        if objectives_differ:
            connection.execute(OBJECTIVES.delete().where(OBJECTIVES.c.site == name))
        if skills_gone:
            for table in (AGENT_SKILLS, OBJECTIVES, SKILLS):    # SQLite without FK support
                column = table.c.name if table is SKILLS else table.c.skill
                written += connection.execute(table.delete().where(
                    table.c.site == name, column.in_(skills_gone))).rowcount
        for skill in skills_changed:        # updated in place: agents' rows still name it
            row = _skill_row(name, skills_now[skill])
            connection.execute(SKILLS.update().where(
                SKILLS.c.site == name, SKILLS.c.name == skill).values(row))
            written += 1
        if (before.auto_pause_after_misses, before.statistics_window_s) != (
                after.auto_pause_after_misses, after.statistics_window_s):
            connection.execute(SITES.update().where(SITES.c.name == name).values(
                auto_pause_after_misses=after.auto_pause_after_misses,
                statistics_window_s=after.statistics_window_s))
            written += 1
        if skills_new:
            connection.execute(SKILLS.insert(), [_skill_row(name, skill) for skill in skills_new])
            written += len(skills_new)
        if agents_in:
            rows, levels = _agent_rows(name, agents_in)
            connection.execute(AGENTS.insert(), rows)
            if levels:
                connection.execute(AGENT_SKILLS.insert(), levels)
            written += len(rows) + len(levels)
        if objectives_differ and objectives_in:
            connection.execute(OBJECTIVES.insert(), objectives_in)
            written += len(objectives_in)
    return written


def load_sites(engine: Engine) -> tuple[dict, dict]:
    """({site name: SiteConfig}, {site: {skill: {Priority: seconds}}}) from the tables."""
    with engine.connect() as connection:
        skills, agents, levels, objectives = {}, {}, {}, {}
        for row in connection.execute(sa.select(SKILLS).order_by(SKILLS.c.site, SKILLS.c.name)):
            fields = dict(row._mapping)
            site = fields.pop("site")
            skills.setdefault(site, []).append(SkillConfig(**fields))
        for row in connection.execute(sa.select(AGENT_SKILLS)):
            levels.setdefault((row.site, row.agent_id), {})[row.skill] = row.level
        for row in connection.execute(sa.select(AGENTS).order_by(AGENTS.c.site, AGENTS.c.agent_id)):
            fields = dict(row._mapping)
            site = fields.pop("site")
            agents.setdefault(site, []).append(
                AgentConfig(skills=levels.get((site, fields["agent_id"]), {}), **fields))
        for row in connection.execute(sa.select(OBJECTIVES)):
            objectives.setdefault(row.site, {}).setdefault(row.skill, {})[
                Priority[row.priority.upper()]] = row.seconds
        sites = {row.name: SiteConfig(row.name, tuple(skills.get(row.name, ())),
                                      tuple(agents.get(row.name, ())),
                                      row.auto_pause_after_misses, row.statistics_window_s)
                 for row in connection.execute(sa.select(SITES).order_by(SITES.c.name))}
    return sites, objectives
