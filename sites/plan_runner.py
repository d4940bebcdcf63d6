"""The routing-plan interpreter (SPEC §10): runs a contact's plan inside its site's core.

A contact that dialled an entry point arrives without a skill; its service (chosen by the
dialled number) picks a plan by calendar, and the plan's steps run in order, driven by the
same events and deadlines as everything else in the core:

- `announce`, `wait`, `self_service`, `collect` and `callback` take time: the interpreter
  tells the PBX what to do (`IvrTreatment`), sets a deadline, and goes on when it passes
  (on a `Tick`) or when the PBX reports earlier (`PromptFinished`, `DigitsCollected`,
  `SelfServiceEnded`, `CallbackChosen`);
- `queue` puts the contact in a skill's queue (up to 3 at once; the first agent of any
  answers it, and it leaves the others in the same decision); `priority` moves it, placed
  by its waiting time; `goto` jumps; `route_to`, `busy`, `voicemail`, `disconnect` and a
  completed `self_service` end it in their own final state;
- conditions read what the site publishes to Best Service Routing (staffed, available,
  queued, oldest wait, EWT, rolling ASA), the calendars at the core's time (through the
  site's `WallClock`), the digits collected so far and the caller's number prefix.

While an agent is being offered the contact the plan pauses (a deadline that passes
meanwhile is kept due and runs if the offer fails); once an agent answers, the plan is over.
At most `MAX_STEPS_RUN` steps run per contact (the loop guard): past it the contact is
disconnected and the `IvrTreatment` says why.

Each contact keeps the `Plan` object it started (plans are immutable), so a configuration
changed meanwhile applies to new contacts only. `SiteState` owns one `PlanRunner` and calls
it from its event handlers; the runner changes queues only through the site's own
transitions (`_queue_in_skill`, `_finish`, ...), so the site's invariants hold.
"""

from __future__ import annotations

import heapq
import math
from itertools import count

from native import NO_CONTACT
from sites.actions import IvrTreatment
from sites.calendars import DEFAULT_START_EPOCH, WallClock
from sites.errors import InvalidInput
from sites.model import Contact, ContactState, Priority
from sites.plans import (
    MAX_STEPS_RUN,
    AllOf,
    AniIn,
    AniPrefix,
    Announce,
    AnyOf,
    Busy,
    Callback,
    CalendarOpen,
    Collect,
    CustomerTier,
    Digits,
    Disconnect,
    Goto,
    Not,
    PlanConfig,
    Queue,
    RouteTo,
    SelfService,
    SetPriority,
    SkillState,
    Voicemail,
    Wait,
)

MAX_SKILLS_AT_ONCE = 3            # SPEC §10: a contact waits in up to 3 skills at once
CALLBACK_ANSWER_S = 15.0          # how long a callback offer waits for the caller's answer
_DIGIT_CHARACTERS = frozenset("0123456789*#")

# What a paused run waits for: the step kind whose deadline is set.
_TIMED = ("announce", "collect", "wait", "self_service", "callback_offer")
# ContactState members the interpreter compares with or ends in, as module globals: reading
# them off the class is slow in Python 3.11 (see sites/state.py).
_QUEUED, _IN_IVR, _OFFERED = ContactState.QUEUED, ContactState.IN_IVR, ContactState.OFFERED
_DISCONNECTED, _ROUTED_OUT = ContactState.DISCONNECTED, ContactState.ROUTED_OUT
_FINAL_OF = {Busy: ContactState.BUSY, Voicemail: ContactState.VOICEMAIL}
_NO_VARIABLES: dict = {}        # a run's variables before any collect step (never written)


class PlanRun:
    """One contact's progress through its plan."""
    __slots__ = ("service", "plan", "index", "steps_run", "variables", "waiting",
                 "deadline", "collect_into", "collect_max", "ani_prefix", "holds_line", "due")

    def __init__(self, service: str, plan, ani_prefix: str):
        self.service = service
        self.plan = plan
        self.index = 0                  # the next step to run
        self.steps_run = 0
        # Digits collected, by variable; None until a `collect` step (most plans have none:
        # one dict less per dialled arrival).
        self.variables: dict[str, str] | None = None
        self.waiting: str | None = None     # the timed step under way (_TIMED), or None
        self.deadline: float | None = None
        self.collect_into: str | None = None
        self.collect_max = 0
        self.ani_prefix = ani_prefix
        self.holds_line = True          # an IVR port of its service (SPEC §10 max_lines)
        self.due = False                # a deadline passed while an agent was offered it

    def to_dict(self) -> dict:
        return {"service": self.service, "plan": self.plan.name, "index": self.index,
                "steps_run": self.steps_run, "variables": dict(self.variables or {}),
                "waiting": self.waiting, "deadline": self.deadline,
                "collect_into": self.collect_into, "collect_max": self.collect_max,
                "ani_prefix": self.ani_prefix, "holds_line": self.holds_line, "due": self.due}

    @classmethod
    def from_dict(cls, record: dict, config: PlanConfig) -> "PlanRun":
        plan = config.plans.get(record["plan"])
        if plan is None:
            raise ValueError(f"the snapshot's contact runs plan {record['plan']!r}, which the "
                             "configuration no longer has")
        run = cls(record["service"], plan, record["ani_prefix"])
        for name in ("index", "steps_run", "waiting", "deadline", "collect_into",
                     "collect_max", "holds_line", "due"):
            setattr(run, name, record[name])
        run.variables = dict(record["variables"]) or None
        return run


class PlanRunner:
    """The routing plans of one site (`site`: its SiteState)."""

    def __init__(self, site):
        self.site = site
        self.config = PlanConfig()
        self.change = None              # the last Admin change of the plans (SiteState.put_plans)
        self.clock = WallClock(DEFAULT_START_EPOCH)
        self.lines: dict[str, int] = {}             # service -> IVR ports in use here
        self.timers: list = []          # heap of (deadline, order, contact id); stale skipped
        self._order = count()
        self._programs: dict = {}       # id(plan) -> (plan, its compiled steps): `_program`

    def use(self, config: PlanConfig, clock: WallClock | None = None) -> None:
        """Plans for contacts arriving from now on (those in a plan keep theirs)."""
        self.config = config
        if clock is not None:
            self.clock = clock
        # Compiled now, with the configuration, rather than by the first callers: the
        # previous programs were compiled against the previous calendars and clock. A plan
        # of an older configuration that a contact still runs is compiled when it next runs.
        self._programs = {}
        for plan in config.plans.values():
            self._program(plan)

    # ---- arrival ---------------------------------------------------------------------------
    def arrive(self, event, actions) -> None:
        """A contact that dialled `event.dnis` (already checked: new id, no skill)."""
        site = self.site
        dnis = event.dnis
        if not isinstance(dnis, str) or not dnis:
            raise InvalidInput("dnis", f"a contact without a skill needs the dialled number "
                                       f"(dnis); got {dnis!r}")
        config = self.config
        entry = config.entry_points.get(dnis)
        if entry is None:
            raise InvalidInput("dnis", f"no entry point {dnis!r} (entry_points: "
                                       f"{', '.join(sorted(config.entry_points)) or 'none'})")
        ani_prefix = event.ani_prefix or ""
        if not isinstance(ani_prefix, str):
            raise InvalidInput("ani_prefix", f"must be text; got {ani_prefix!r}")
        contact = site._new_plan_contact(event)         # validates channel, data, ...
        service = config.services[entry.service]
        now = event.time
        lines = self.lines
        in_use = lines.get(service.name, 0)
        if in_use >= service.max_lines:
            actions.append(IvrTreatment(contact.contact_id, "busy",
                                        reason=f"max_lines {service.max_lines} in use"))
            site._finish(contact, ContactState.BUSY, now, actions)
            return
        lines[service.name] = in_use + 1
        first = service.schedule[0]
        # A schedule that starts with its `otherwise` (the usual one-entry schedule) has
        # no calendar to ask: Service.plan_at's first answer, without the clock.
        plan = config.plans[first.plan if first.calendar is None
                            else service.plan_at(config.calendars, self.clock.epoch(now))]
        contact.plan_run = PlanRun(service.name, plan, ani_prefix)
        self.run(contact, now, actions)

    # ---- the interpreter ---------------------------------------------------------------------
    # A plan runs as its compiled program (`_program`): each step is a tuple (condition,
    # act, target) of callables made once per plan, so that a step costs a call or two
    # rather than a dispatch on its action's and condition's types, dict lookups and string
    # comparisons (issue 17: ~1 µs a step interpreted; plans run on every dialled arrival).
    def run(self, contact: Contact, now: float, actions: list) -> None:
        """Run steps until one takes time, the contact is offered or ends, or the plan ends."""
        run = contact.plan_run
        plan = run.plan
        entry = self._programs.get(id(plan))      # (`_program`'s lookup, without the call)
        steps = entry[1] if entry is not None and entry[0] is plan else self._program(plan)
        count_steps = len(steps)
        while True:
            state = contact.state
            if state is not _QUEUED and state is not _IN_IVR:
                if state is _OFFERED:
                    run.due = True      # paused: it goes on if the offer fails
                return                  # or finished by the last step
            # Conditions and gotos change nothing but the position: the position is kept in
            # locals until a step acts, and the state is looked at again only after that.
            index, ran = run.index, run.steps_run
            while True:
                if index >= count_steps:
                    run.index, run.steps_run = index, ran
                    if state is _IN_IVR:
                        actions.append(IvrTreatment(contact.contact_id, "disconnect",
                                                    reason="end of plan"))
                        self._end(contact, _DISCONNECTED, now, actions)
                    return              # queued: it stays queued (SPEC §10)
                if ran >= MAX_STEPS_RUN:
                    run.index, run.steps_run = index, ran
                    actions.append(IvrTreatment(
                        contact.contact_id, "disconnect",
                        reason=f"loop guard: plan {run.plan.name!r} ran {MAX_STEPS_RUN} steps"))
                    self._end(contact, ContactState.DISCONNECTED, now, actions)
                    return
                condition, act, target = steps[index]
                index += 1
                ran += 1
                if condition is not None and not condition(contact, now):
                    continue
                if act is None:         # goto
                    index = target
                    continue
                run.index, run.steps_run = index, ran
                done = act(contact, now, actions)
                if done is None:        # it did nothing: the next step
                    continue
                if done:
                    return              # it takes time, or it ended the contact
                break                   # it may have queued or offered the contact

    def _program(self, plan) -> tuple:
        """`plan`'s steps compiled for this site, the current configuration's calendars and
        the current clock (compiled by `use`, or when a contact runs a plan of an older
        configuration)."""
        entry = self._programs.get(id(plan))
        if entry is None or entry[0] is not plan:     # (an id may be reused once freed)
            entry = (plan, tuple((None if step.condition is None
                                  else self._compile_condition(step.condition),
                                  *self._compile_action(step.action, plan))
                                 for step in plan.steps))
            self._programs[id(plan)] = entry
        return entry[1]

    # Each action compiles to (act, target): act(contact, now, actions) -> True when the plan
    # stops there (the step takes time or ends the contact), False when it may have changed
    # the contact's state (queued, offered: `run` looks again), None when it did nothing;
    # or act None and target the index a goto jumps to.
    def _compile_action(self, action, plan) -> tuple:
        kind = type(action)
        site = self.site
        wait_for, end = self._wait_for, self._end
        if kind is Goto:
            return None, plan.labels[action.label]
        if kind is Queue:
            name, priority, objective = action.skill, action.priority, action.service_objective_s

            def act(contact, now, actions):
                skill = site.skills.get(name)
                # A contact in no queue yet (no handle; then never `also_queued` either) is
                # neither in this skill nor in 3: the usual first queue step asks no more.
                if skill is None or contact.handle != NO_CONTACT and (
                        site._queued_in(contact, name)
                        or site._skill_count(contact) >= MAX_SKILLS_AT_ONCE):
                    return None         # not at this site, already there, or 3 skills already
                site._queue_in_skill(contact, skill, priority, objective, now, actions)
                return False
        elif kind is SetPriority:
            priority = action.priority

            def act(contact, now, actions):
                if contact.state is not _QUEUED:
                    return None         # in no queue yet: nothing to move
                site._set_contact_priority(contact, priority, now, actions)
                return False
        elif kind is Announce:
            prompt, seconds = action.prompt, action.seconds

            def act(contact, now, actions):
                wait_for(contact, "announce", now + seconds)
                actions.append(IvrTreatment(contact.contact_id, "announce", prompt, seconds))
                return True
        elif kind is Wait:
            seconds, treatment = action.seconds, action.treatment

            def act(contact, now, actions):
                wait_for(contact, "wait", now + seconds)
                actions.append(IvrTreatment(contact.contact_id, "wait", seconds=seconds,
                                            treatment=treatment))
                return True
        elif kind is Collect:
            prompt, timeout, into, most = (action.prompt, action.timeout_s, action.into,
                                           action.max_digits)

            def act(contact, now, actions):
                wait_for(contact, "collect", now + timeout)
                run = contact.plan_run
                if run.variables is None:
                    run.variables = {}  # the digits (or "") go there when the step ends
                run.collect_into, run.collect_max = into, most
                actions.append(IvrTreatment(contact.contact_id, "collect", prompt, timeout,
                                            max_digits=most, variable=into))
                return True
        elif kind is SelfService:
            prompt, seconds = action.prompt, action.seconds

            def act(contact, now, actions):
                wait_for(contact, "self_service", now + seconds)
                actions.append(IvrTreatment(contact.contact_id, "self_service", prompt,
                                            seconds))
                return True
        elif kind is Callback:
            def act(contact, now, actions):
                if contact.state is not _QUEUED:
                    return None         # nothing to keep a place in
                wait_for(contact, "callback_offer", now + CALLBACK_ANSWER_S)
                actions.append(IvrTreatment(contact.contact_id, "callback_offer",
                                            seconds=CALLBACK_ANSWER_S))
                return True
        elif kind is RouteTo:
            to, target = action.to, action.target

            def act(contact, now, actions):
                actions.append(IvrTreatment(contact.contact_id, "route_out", to=to,
                                            target=target))
                end(contact, _ROUTED_OUT, now, actions)
                return True
        elif kind is Disconnect:
            prompt = action.prompt

            def act(contact, now, actions):
                actions.append(IvrTreatment(contact.contact_id, "disconnect", prompt))
                end(contact, _DISCONNECTED, now, actions)
                return True
        elif kind in _FINAL_OF:         # busy, voicemail: a treatment named as the step
            treatment, final = action.kind, _FINAL_OF[kind]

            def act(contact, now, actions):
                actions.append(IvrTreatment(contact.contact_id, treatment))
                end(contact, final, now, actions)
                return True
        else:                           # a new Action kind the interpreter does not know
            raise AssertionError(f"no interpreter for plan step {kind.__name__}")
        return act, -1

    def _wait_for(self, contact: Contact, kind: str, deadline: float) -> None:
        run = contact.plan_run
        run.waiting, run.deadline = kind, deadline
        heapq.heappush(self.timers, (deadline, next(self._order), contact.contact_id))

    def _go_on(self, contact: Contact, now: float, actions: list) -> None:
        """The timed step under way is over: the next steps run (or wait for the offer)."""
        run = contact.plan_run
        run.waiting = run.deadline = None
        run.collect_into = None
        if contact.state is _OFFERED:
            run.due = True
        else:
            self.run(contact, now, actions)

    def _end(self, contact: Contact, final: ContactState, now: float, actions: list) -> None:
        self.release(contact)
        self.site._leave(contact, final, now, actions)

    def release(self, contact: Contact) -> None:
        """The contact leaves its plan (answered, hung up, ended): its IVR port is free."""
        run = contact.plan_run
        if run is None:
            return
        if run.holds_line:
            run.holds_line = False
            self.lines[run.service] -= 1
        run.waiting = run.deadline = None

    # ---- time and reports from the PBX ------------------------------------------------------
    def next_deadline(self) -> float | None:
        return self.timers[0][0] if self.timers else None

    def tick(self, now: float, actions: list) -> None:
        timers = self.timers
        contacts = self.site.contacts
        while timers and timers[0][0] <= now:
            deadline, _, contact_id = heapq.heappop(timers)
            contact = contacts.get(contact_id)
            if contact is None or contact.plan_run is None \
                    or contact.plan_run.deadline != deadline:
                continue                # finished, answered, or moved on by the PBX
            run = contact.plan_run
            waiting = run.waiting
            if contact.state is _OFFERED:
                # An agent is ringing: the step is over, the plan waits for the offer.
                run.waiting = run.deadline = run.collect_into = None
                run.due = True
                continue
            if waiting == "self_service":
                # Its time ran out with the caller still in self-service: served there.
                self._end(contact, ContactState.SELF_SERVED, now, actions)
                continue
            if waiting == "collect":
                run.variables[run.collect_into] = ""        # keyed nothing in time
            self._go_on(contact, now, actions)

    def offer_ended(self, contact: Contact, now: float, actions: list) -> None:
        """An offer of a plan contact was withdrawn: a deadline that passed meanwhile runs."""
        run = contact.plan_run
        if run is not None and run.due and contact.state is _QUEUED:
            run.due = False
            self.run(contact, now, actions)

    def answered(self, contact: Contact) -> None:
        """An agent took the contact: its plan is over."""
        self.release(contact)
        contact.plan_run = None

    def _waiting(self, event, kind: str) -> Contact:
        contact = self.site._contact(event.contact_id)
        run = contact.plan_run
        if run is None or run.waiting != kind:
            doing = "not in a routing plan" if run is None else (
                f"at no {kind} step (now: {run.waiting or 'no timed step'})")
            raise InvalidInput("contact_id", f"contact {event.contact_id!r} is {doing}")
        return contact

    def digits_collected(self, event, actions) -> None:
        contact = self._waiting(event, "collect")
        digits = event.digits
        run = contact.plan_run
        if not isinstance(digits, str) or len(digits) > run.collect_max or not set(
                digits) <= _DIGIT_CHARACTERS:
            raise InvalidInput("digits", f"must be up to {run.collect_max} of 0-9, * and #; "
                                         f"got {digits!r}")
        run.variables[run.collect_into] = digits
        self._go_on(contact, event.time, actions)

    def prompt_finished(self, event, actions) -> None:
        contact = self._waiting(event, "announce")
        self._go_on(contact, event.time, actions)

    def self_service_ended(self, event, actions) -> None:
        contact = self._waiting(event, "self_service")
        if not isinstance(event.completed, bool):
            raise InvalidInput("completed", f"must be true or false; got {event.completed!r}")
        if event.completed:
            self._end(contact, ContactState.SELF_SERVED, event.time, actions)
        else:
            self._go_on(contact, event.time, actions)

    def callback_chosen(self, event, actions) -> None:
        contact = self._waiting(event, "callback_offer")
        if not isinstance(event.accepted, bool):
            raise InvalidInput("accepted", f"must be true or false; got {event.accepted!r}")
        if not event.accepted or contact.state is _OFFERED:
            # Declined; or an agent is ringing already: the caller stays on the line.
            self._go_on(contact, event.time, actions)
            return
        # The caller hangs up: the place is kept, the plan is over, the port is free.
        contact.callback = True
        self.answered(contact)

    # ---- conditions ----------------------------------------------------------------------------
    # A condition compiles to holds(contact, now) -> bool. What it reads of the site (skills,
    # their indexes, the scheduler) is looked up when it runs, since Admin may add, change
    # or remove skills while a plan's program is kept; calendars and the clock are bound
    # (`use` forgets the programs when they change).
    def _compile_condition(self, condition):
        kind = type(condition)
        if kind is SkillState:
            return self._compile_skill_state(condition)
        if kind is CalendarOpen:
            is_open = self.config.calendars[condition.calendar].is_open
            start_epoch = self.clock.start_epoch        # WallClock.epoch: start + core time
            return lambda contact, now: is_open(start_epoch + now)
        if kind is AniPrefix:
            prefixes = tuple(condition.prefixes)        # startswith tries each: any()
            return lambda contact, now: contact.plan_run.ani_prefix.startswith(prefixes)
        if kind is Digits:
            values = condition.values

            def holds(contact, now):
                variables = contact.plan_run.variables or _NO_VARIABLES
                return all(variables.get(name) in wanted for name, wanted in values)
            return holds
        if kind is Not:
            inner = self._compile_condition(condition.condition)
            return lambda contact, now: not inner(contact, now)
        if kind is AllOf:
            parts = tuple(self._compile_condition(part) for part in condition.conditions)

            def holds(contact, now):
                for part in parts:      # in order, stopping at the first false one
                    if not part(contact, now):
                        return False
                return True
            return holds
        if kind is AnyOf:
            parts = tuple(self._compile_condition(part) for part in condition.conditions)

            def holds(contact, now):
                for part in parts:      # in order, stopping at the first true one
                    if part(contact, now):
                        return True
                return False
            return holds
        if kind is CustomerTier:
            # The caller's tier, or the default one for a caller nobody knows (SPEC §7).
            tiers, tier_of = frozenset(condition.tiers), self.site.tiers.name_of
            return lambda contact, now: tier_of(contact.tier) in tiers
        if kind is AniIn:
            # Named number lists come with the customer store's lists (SPEC §7); until
            # then no caller is in one.
            return lambda contact, now: False
        raise AssertionError(f"no evaluator for plan condition {kind.__name__}")

    def _compile_skill_state(self, condition: SkillState):
        """A skill-state condition: the figure it compares (None: unknown, read as infinite;
        a skill not at this site has nobody and nothing) tested as SkillState.holds does."""
        site = self.site
        name, priority, measure = condition.skill, condition.priority, condition.measure
        if name is None:                        # `ewt` alone: this contact's own
            test = condition.test()
            return lambda contact, now: test(site._own_ewt(contact, now))
        if measure == "ewt":
            test = condition.test()

            def holds(contact, now):
                if name not in site.skills:
                    return test(None)           # not at this site: nobody, no EWT
                return test(site.new_contact_ewt(
                    name, contact.priority if priority is None else priority, contact.channel))
            return holds
        # The other figures are never None: tested without holds' None check.
        test = condition.known_test()
        nothing = test(0.0)                     # the figure of a skill not at this site
        if measure == "staffed":
            def holds(contact, now):
                if name not in site.skills:
                    return nothing
                return test(site._staffed[site._skill_index[name]])
        elif measure == "available":
            def holds(contact, now):
                if name not in site.skills:
                    return nothing
                return test(site._available(name, site._skill_index[name],
                                            contact.channel_code))
        elif measure == "queued":
            top = Priority.LOW.value if priority is None else priority.value

            def holds(contact, now):
                if name not in site.skills:
                    return nothing
                return test(site._queued_up_to(site._skill_index[name], top))
        elif measure == "oldest_wait":
            def holds(contact, now):
                if name not in site.skills:
                    return nothing
                oldest = site.scheduler.oldest_arrival(site._skill_index[name])
                return test(0.0 if oldest is None else max(0.0, now - oldest))
        elif measure == "rolling_asa":
            def holds(contact, now):
                if name not in site.skills:
                    return nothing
                asa = site._counters[name].snapshot(now)[2]
                return test(0.0 if asa is None or not math.isfinite(asa) else asa)
        else:
            raise AssertionError(f"no measure {measure!r}")
        return holds
