"""Administrative changes of one site (Admin.Put/Delete of skills and agents, deleting a site):
the rules that say when the live site allows them, in one place for every runtime (the
in-process host calls these on its SiteState, a Ray site actor on its own).

Each function validates first and changes nothing when it refuses: `NotFound` (the skill or
agent does not exist) or `PreconditionFailed` (the live state forbids it now). The changes
themselves go through SiteState's admin methods, which the store journals.
"""

from __future__ import annotations

from sites.errors import NotFound, PreconditionFailed
from sites.model import AgentState
from sites.state import SiteState

# Skill fields that live in the scheduler: changing one re-creates the skill, which only an
# unused skill allows.
SCHEDULER_SKILL_FIELDS = ("queueing", "agent_selection", "widen_level", "widen_after_s")


def _check_skill_unused(state: SiteState, name: str, field: str) -> None:
    users = [agent_id for agent_id, agent in state.agents.items()
             if name in agent.config.skills]
    if users:
        raise PreconditionFailed(field, f"{len(users)} agent(s) at site {state.name!r} have "
                                        f"skill {name!r}, e.g. {users[0]!r}")
    live = sum(1 for contact in state.contacts.values() if contact.skill == name)
    if live:
        raise PreconditionFailed(field, f"{live} contact(s) of skill {name!r} are in "
                                        f"progress at site {state.name!r}")


def put_skill(state: SiteState, config) -> bool:
    """Create or change a skill; True if it is new. Fields the scheduler holds (queueing,
    selection, widening) change only while no agent has the skill and no contact uses it."""
    current = state.skills.get(config.name)
    if current is None:
        state.add_skill(config)
        return True
    changed = [name for name in SCHEDULER_SKILL_FIELDS
               if getattr(config, name) != getattr(current, name)]
    if changed:
        _check_skill_unused(state, config.name, changed[0])
        state.remove_skill(config.name)
        state.add_skill(config)
    else:
        state.update_skill(config)
    return False


def delete_skill(state: SiteState, name: str) -> None:
    if name not in state.skills:
        raise NotFound("name", f"no skill {name!r} at site {state.name!r}")
    _check_skill_unused(state, name, "name")
    state.remove_skill(name)


def put_agent(state: SiteState, config) -> bool:
    """Create an agent, or reconfigure a logged-out one; True if it is new."""
    agent = state.agents.get(config.agent_id)
    if agent is None:
        state.add_agent(config)
        return True
    if agent.state is not AgentState.LOGGED_OUT:
        raise PreconditionFailed("agent_id", f"agent {config.agent_id!r} is logged in "
                                             f"({agent.state.value}); log it out first")
    state.replace_agent(config)
    return False


def delete_agent(state: SiteState, agent_id: str) -> None:
    agent = state.agents.get(agent_id)
    if agent is None:
        raise NotFound("name", f"no agent {agent_id!r} at site {state.name!r}")
    if agent.state is not AgentState.LOGGED_OUT:
        raise PreconditionFailed("name", f"agent {agent_id!r} is logged in "
                                         f"({agent.state.value}); log it out first")
    state.remove_agent(agent_id)


def check_removable(state: SiteState) -> None:
    """PreconditionFailed unless the site may be deleted: nobody logged in, no contact."""
    logged_in = [agent_id for agent_id, agent in state.agents.items()
                 if agent.state is not AgentState.LOGGED_OUT]
    if logged_in:
        raise PreconditionFailed("name", f"site {state.name!r} has {len(logged_in)} "
                                         f"logged-in agent(s), e.g. {logged_in[0]!r}")
    if state.contacts:
        raise PreconditionFailed("name", f"site {state.name!r} has {len(state.contacts)} "
                                         "contact(s) in progress")
