"""The report's SQL: a few GROUP BYs over contact records and agent state intervals that
return sums per (interval, group); only those sums come to Python (see the package
docstring for what each figure means and which contacts count where)."""

from __future__ import annotations

import sqlalchemy as sa

from cluster.reports.figures import Report, Sums
from cluster.reports.request import BY_ENTRY, ReportQuery
from cluster.store.models import AgentSkill, AgentStateInterval, ContactRecord
from cluster.store.sqlfuncs import floor_, greatest, least

RECORDS = ContactRecord.__table__
INTERVALS = AgentStateInterval.__table__
AGENT_SKILLS = AgentSkill.__table__
R, I, S = RECORDS.c, INTERVALS.c, AGENT_SKILLS.c

# A contact its routing plan never queued nor had offered (self-served, busy, hung up in
# the IVR ...) is written with skill "" (cluster/store/records.py).
NEVER_QUEUED = R.skill == ""
# Its wait for an agent: from its plan's first queue step, or its arrival (a plain contact).
WAIT = R.answer_time - sa.func.coalesce(R.queue_time, R.arrival_time)


def _outcome_conditions() -> dict:
    """OUTCOMES name -> the condition a record meets to count in it."""
    abandoned = R.final_state == "abandoned"
    return {
        "to_agent": sa.not_(NEVER_QUEUED),
        "self_served": R.final_state == "self_served",
        "abandoned_ivr": sa.and_(abandoned, NEVER_QUEUED),
        "abandoned_queue": sa.and_(abandoned, sa.not_(NEVER_QUEUED)),
        "busy": R.final_state == "busy",
        "callbacks": R.callback,
        "routed_out": R.final_state == "routed_out",
        "voicemail": R.final_state == "voicemail",
        "disconnected": R.final_state == "disconnected",
    }


def _count(condition):
    return sa.func.sum(sa.case((condition, 1), else_=0))


def _group_columns(by: str, contacts: bool):
    """The columns a report groups by, for contact records or agent intervals (None: agent
    time has no such group)."""
    if by == "skill":
        return [R.skill] if contacts else [S.skill]
    if by == "site":
        return [R.entry_site] if contacts else [I.site]
    if by == "agent":
        return [R.served_site, R.agent_id] if contacts else [I.site, I.agent_id]
    if by in BY_ENTRY:
        # Contacts without one (plain contacts; no DNIS given) make the group "".
        return [sa.func.coalesce(getattr(R, by), "")] if contacts else None
    if by == "tier":
        return [R.tier] if contacts else None
    return [R.skill, R.priority, R.service_objective_s] if contacts else None


def _group_label(by: str, values) -> str:
    if by == "class":
        skill, priority, objective = values
        return f"{skill}/{priority}/{objective:g}"
    return "/".join(str(value) for value in values)


def _contact_sums(connection, query: ReportQuery, by: str, bucketed: bool) -> dict:
    """{(bucket index or None, group label): Sums} from contact records."""
    answered = R.answer_time.isnot(None)
    handled = sa.and_(R.final_state == "completed", answered)
    predicted = sa.and_(answered, R.ewt_predicted_s.isnot(None))
    error = WAIT - R.ewt_predicted_s
    groups = _group_columns(by, contacts=True)
    # A tier's service level is judged against what the tier is promised: the objective
    # the contact was routed with (its tier's; SPEC §7), as `vcc simulate`'s by_tier does.
    threshold = (sa.func.coalesce(R.service_objective_s, R.sl_threshold_s) if by == "tier"
                 else R.sl_threshold_s)
    keys = ([floor_(R.arrival_time / query.interval_s).label("bucket")] if bucketed else []) + \
        [column.label(f"g{number}") for number, column in enumerate(groups)]
    outcomes = _outcome_conditions() if by in BY_ENTRY else {}
    statement = sa.select(
        *keys,
        sa.func.count().label("offered"),
        _count(answered).label("answered"),
        _count(R.final_state == "abandoned").label("abandoned"),
        _count(sa.and_(answered, WAIT <= threshold)).label("within"),
        sa.func.sum(sa.case((answered, WAIT))).label("wait_sum"),
        _count(handled).label("handled"),
        sa.func.sum(sa.case((handled, sa.func.coalesce(R.wrap_up_end_time, R.end_time)
                             - R.answer_time))).label("handle_sum"),
        sa.func.sum(sa.case((handled, sa.func.coalesce(R.wrap_up_end_time - R.end_time, 0.0))))
        .label("wrap_sum"),
        _count(predicted).label("ewt_count"),
        sa.func.sum(sa.case((predicted, error))).label("ewt_error_sum"),
        sa.func.sum(sa.case((predicted, sa.func.abs(error)))).label("ewt_abs_error_sum"),
        sa.func.sum(sa.case((predicted, error * error))).label("ewt_sq_error_sum"),
        sa.func.sum(sa.case((predicted, WAIT))).label("ewt_wait_sum"),
        *[_count(condition).label(name) for name, condition in outcomes.items()],
    ).where(R.arrival_time >= query.start, R.arrival_time < query.end)
    by_place = (sa.select(*keys, R.queue_position.label("place"), sa.func.count().label("n"),
                          sa.func.sum(WAIT).label("wait_sum"),
                          sa.func.sum(WAIT * WAIT).label("wait_sq_sum"))
                .where(R.arrival_time >= query.start, R.arrival_time < query.end, predicted))
    if by == "agent":
        statement = statement.where(R.agent_id.isnot(None))
        by_place = by_place.where(R.agent_id.isnot(None))
    elif by in ("skill", "class"):
        # A contact never queued was in no skill: it would be a row of its own (skill "")
        # whose callers no agent of any skill could have answered.
        statement = statement.where(sa.not_(NEVER_QUEUED))
        by_place = by_place.where(sa.not_(NEVER_QUEUED))
    elif by == "tier":
        # Callers of a tier who reached a queue (as `vcc simulate` counts them); records
        # without a tier (a center without tiers, records before revision 0005) in no row.
        known = sa.and_(R.tier.isnot(None), sa.not_(NEVER_QUEUED))
        statement = statement.where(known)
        by_place = by_place.where(known)
    statement = statement.group_by(*keys)
    by_place = by_place.group_by(*keys, R.queue_position)

    def cell(mapping):
        bucket = int(mapping["bucket"]) if bucketed else None
        return bucket, _group_label(by, [mapping[f"g{n}"] for n in range(len(groups))])

    out = {}
    for row in connection.execute(statement):
        mapping = row._mapping
        out[cell(mapping)] = Sums(
            offered=mapping["offered"], answered=mapping["answered"] or 0,
            abandoned=mapping["abandoned"] or 0, within=mapping["within"] or 0,
            wait_sum=mapping["wait_sum"] or 0.0, handled=mapping["handled"] or 0,
            handle_sum=mapping["handle_sum"] or 0.0, wrap_sum=mapping["wrap_sum"] or 0.0,
            ewt_count=mapping["ewt_count"] or 0, ewt_error_sum=mapping["ewt_error_sum"] or 0.0,
            ewt_abs_error_sum=mapping["ewt_abs_error_sum"] or 0.0,
            ewt_sq_error_sum=mapping["ewt_sq_error_sum"] or 0.0,
            ewt_wait_sum=mapping["ewt_wait_sum"] or 0.0,
            outcomes={name: mapping[name] or 0 for name in outcomes} if outcomes else None)
    for row in connection.execute(by_place):
        mapping = row._mapping
        out[cell(mapping)].ewt_by_place[mapping["place"]] = [
            mapping["n"], mapping["wait_sum"] or 0.0, mapping["wait_sq_sum"] or 0.0]
    return out


def split_agent_time(connection, start: float, end: float, width: float):
    """Agent state intervals split over the report intervals of `width` they span, by a join
    in the database: with `generate_series` on PostgreSQL (only the buckets each interval
    needs), elsewhere with a table of offsets 0..n (n the widest span in buckets).
    (source to select from, bucket index, seconds of the interval in that bucket, condition
    the intervals must meet), or None when no interval overlaps [start, end)."""
    clipped_start = greatest(I.start_time, start)
    clipped_end = least(I.end_time, end)
    first = floor_(clipped_start / width)
    last = floor_(clipped_end / width)
    overlapping = sa.and_(I.start_time < end, I.end_time > start)
    if connection.dialect.name == "postgresql":
        series = sa.func.generate_series(sa.cast(first, sa.BigInteger),
                                         sa.cast(last, sa.BigInteger)).table_valued("b").render_derived(
            name="buckets").lateral()
        source = INTERVALS.join(series, sa.true())
        index = series.c.b
    else:
        widest = connection.execute(sa.select(sa.func.max(last - first)).where(overlapping)).scalar()
        if widest is None:
            return None
        offsets = sa.select(sa.literal(0, sa.Integer).label("n")).cte("offsets", recursive=True)
        offsets = offsets.union_all(sa.select((offsets.c.n + 1).label("n"))
                                    .where(offsets.c.n < int(widest)))
        source = INTERVALS.join(offsets, offsets.c.n <= last - first)
        index = first + offsets.c.n
    seconds = least(clipped_end, (index + 1) * width) - greatest(clipped_start, index * width)
    return source, index, seconds, overlapping


def _agent_time(connection, query: ReportQuery, by: str) -> dict:
    """{(bucket index, group label, state, reason): seconds} of agent state intervals, each
    interval split over the report intervals it spans (split_agent_time)."""
    groups = _group_columns(by, contacts=False)
    if groups is None:
        return {}
    split = split_agent_time(connection, query.start, query.end, query.interval_s)
    if split is None:
        return {}
    source, index, seconds, overlapping = split
    if by == "skill":
        source = source.join(AGENT_SKILLS, sa.and_(S.site == I.site, S.agent_id == I.agent_id))
    keys = [index.label("bucket")] + [column.label(f"g{number}")
                                      for number, column in enumerate(groups)] + [
        I.state.label("state"), I.reason.label("reason")]
    statement = (sa.select(*keys, sa.func.sum(seconds).label("seconds"))
                 .select_from(source).where(overlapping).group_by(*keys))
    out = {}
    for row in connection.execute(statement):
        mapping = row._mapping
        if not mapping["seconds"] or mapping["seconds"] <= 0:
            continue
        label = _group_label(by, [mapping[f"g{n}"] for n in range(len(groups))])
        key = (int(mapping["bucket"]), label, mapping["state"], mapping["reason"])
        out[key] = out.get(key, 0.0) + mapping["seconds"]
    return out


def compute_report(engine, query: ReportQuery, *, classes: bool = True) -> Report:
    """The report of `query`; figures added up by the database (see the package docstring).
    `classes`: also the totals per class (what the ASA chart shows)."""
    with engine.begin() as connection:     # one snapshot of the data for every query
        if connection.dialect.name == "postgresql":
            # The GROUP BYs sort or hash a row per record: in memory, not in temporary files.
            connection.execute(sa.text("SET LOCAL work_mem = '64MB'"))
        contacts = _contact_sums(connection, query, query.by, bucketed=True)
        agent_time = _agent_time(connection, query, query.by)
        per_class = (_contact_sums(connection, query, "class", bucketed=False)
                     if classes else {})
    cells: dict = {}
    for (bucket, group), sums in contacts.items():
        cells[(bucket, group)] = sums
    reasons = set()
    for (bucket, group, state, reason), seconds in agent_time.items():
        sums = cells.setdefault((bucket, group), Sums())
        sums.logged_in_s += seconds
        if state in ("busy", "wrap_up"):
            sums.working_s += seconds
        elif state == "not_ready":
            sums.not_ready_s[reason] = sums.not_ready_s.get(reason, 0.0) + seconds
            reasons.add(reason)
    rows = [(bucket * query.interval_s, group, cells[(bucket, group)])
            for bucket, group in sorted(cells)]
    totals: dict = {}
    for (_, group), sums in sorted(cells.items()):
        totals.setdefault(group, Sums()).add(sums)
    return Report(query, rows, sorted(totals.items()), sorted(reasons),
                  sorted((group, sums) for (_, group), sums in per_class.items()))


def time_range(engine) -> tuple[float, float] | None:
    """(first, last) time in the records (contact arrivals, agent intervals), or None when
    there are no contact records."""
    with engine.connect() as connection:
        first, last = connection.execute(
            sa.select(sa.func.min(R.arrival_time), sa.func.max(R.arrival_time))).one()
        if first is None:
            return None
        begins, ends = connection.execute(
            sa.select(sa.func.min(I.start_time), sa.func.max(I.end_time))).one()
    if begins is not None:
        first, last = min(first, begins), max(last, ends)
    return first, last
