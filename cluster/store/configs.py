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
                connection.execute(SKILLS.insert(), [
                    {"site": site.name, **{key: value for key, value in config_to_dict(skill).items()
                                           if key != "service_objectives"}}
                    for skill in site.skills])
            if site.agents:
                connection.execute(AGENTS.insert(), [
                    {"site": site.name, **{key: value for key, value in config_to_dict(agent).items()
                                           if key != "skills"}} for agent in site.agents])
                connection.execute(AGENT_SKILLS.insert(), [
                    {"site": site.name, "agent_id": agent.agent_id, "skill": skill, "level": level}
                    for agent in site.agents for skill, level in agent.skills.items()])
            rows = [{"site": site.name, "skill": skill, "seconds": float(seconds),
                     "priority": priority.name.lower() if isinstance(priority, Priority)
                     else str(priority)}
                    for skill, by_priority in (objectives or {}).items()
                    if any(config.name == skill for config in site.skills)
                    for priority, seconds in by_priority.items()]
            if rows:
                connection.execute(OBJECTIVES.insert(), rows)


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
