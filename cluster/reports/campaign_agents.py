"""The agent time of `vcc report --by campaign` (SPEC §6: talk / wrap / idle minutes per
logged-in hour).

Agents are blended and the store keeps no agent-to-campaign assignment, so a campaign's
agents are those who could take its calls: logged in at the campaign's site (`campaigns.site`)
holding its skill (`campaigns.skill`). Who holds a skill: the store has no history of it;
`agent_skills` (cluster/store/configs.save_sites) is the configuration now (`vcc serve --db`
writes it: cluster/store/config_tables.py; stores filled before that hold none). So an
agent holds a skill at a site if `agent_skills` says so, or if its contact records show it
served a contact of that skill there (at any time): the best the store has. One relieved of
the skill counts all along. An agent with the skills of two campaigns at the site counts in
both.

Per (interval, campaign), seconds of their state intervals split over the intervals they
span (reports/queries.split_agent_time): logged in (every state), talk (`busy`), wrap-up
(`wrap_up`) and idle (`ready`: waiting for a contact); `reserved` (being offered one) and
`not_ready` are in the logged-in time only. Their talk and wrap-up are of all their contacts,
inbound and outbound alike. Apart from them, the campaign's own calls (contact records with
its name): talk (answer to end) and wrap-up (end to wrap-up end), whole, in the interval the
call was answered in.
"""

from __future__ import annotations

import sqlalchemy as sa

from cluster.reports.queries import split_agent_time
from cluster.store.models import AgentSkill, AgentStateInterval, Campaign, ContactRecord
from cluster.store.sqlfuncs import floor_

I = AgentStateInterval.__table__.c
S = AgentSkill.__table__.c
C = Campaign.__table__.c
R = ContactRecord.__table__.c
# agent state -> the CampaignSums field its seconds add to (besides agent_logged_in_s)
STATE_FIELDS = {"busy": "agent_talk_s", "wrap_up": "agent_wrap_s", "ready": "agent_idle_s"}


def _skill_holders():
    """(site, agent_id, skill), each once: configured in `agent_skills`, or seen serving a
    contact of the skill at the site (see the module docstring)."""
    served = (sa.select(R.served_site.label("site"), R.agent_id.label("agent_id"),
                        R.skill.label("skill"))
              .where(R.agent_id.isnot(None), R.served_site.isnot(None), R.skill != ""))
    return sa.union(sa.select(S.site, S.agent_id, S.skill), served).subquery("holders")


def agent_seconds(connection, start: float, end: float, width: float) -> dict:
    """{(bucket index, campaign): {CampaignSums field: seconds}} of the campaigns' agents
    (agent_logged_in_s, agent_talk_s, agent_wrap_s, agent_idle_s) and of their own calls
    (campaign_talk_s, campaign_wrap_s)."""
    out: dict = {}

    def add(bucket, name, field, seconds):
        if seconds and seconds > 0:
            cell = out.setdefault((int(bucket), name), {})
            cell[field] = cell.get(field, 0.0) + float(seconds)

    split = split_agent_time(connection, start, end, width)
    if split is not None:
        source, index, seconds, overlapping = split
        holders = _skill_holders()
        source = (source.join(holders, sa.and_(holders.c.site == I.site,
                                               holders.c.agent_id == I.agent_id))
                  .join(Campaign.__table__, sa.and_(C.site == holders.c.site,
                                                    C.skill == holders.c.skill)))
        keys = [index.label("bucket"), C.name.label("campaign"), I.state.label("state")]
        statement = (sa.select(*keys, sa.func.sum(seconds).label("seconds"))
                     .select_from(source).where(overlapping).group_by(*keys))
        for bucket, name, state, total in connection.execute(statement):
            add(bucket, name, "agent_logged_in_s", total)
            if state in STATE_FIELDS:
                add(bucket, name, STATE_FIELDS[state], total)
    talked = sa.and_(R.campaign.isnot(None), R.answer_time.isnot(None), R.end_time.isnot(None),
                     R.answer_time >= start, R.answer_time < end)
    bucket = floor_(R.answer_time / width).label("bucket")
    own = (sa.select(bucket, R.campaign, sa.func.sum(R.end_time - R.answer_time),
                     sa.func.sum(sa.func.coalesce(R.wrap_up_end_time - R.end_time, 0.0)))
           .where(talked).group_by(bucket, R.campaign))
    for bucket_index, name, talk, wrap in connection.execute(own):
        add(bucket_index, name, "campaign_talk_s", talk)
        add(bucket_index, name, "campaign_wrap_s", wrap)
    return out
