"""The schema (SQLAlchemy 2.x declarative models). Alembic migrations in `migrations/` create
and evolve it; a test checks that the migrations at head equal these models.

Times are seconds as the core sees them (floats; the live host's clock, or simulated time),
so reports and recovery use exactly the numbers the routing decisions used.

Customers and marketing (SPEC §7, revision 0004) live here too, in their own section: one
metadata, one migration history, one place to read the whole schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints make migrations reproducible across databases.
NAMING = {"ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
          "ck": "ck_%(table_name)s_%(constraint_name)s",
          "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
          "pk": "pk_%(table_name)s"}

Seconds = sa.Double()
# SQLite gives a row id only to an INTEGER PRIMARY KEY; PostgreSQL needs 64 bits for events.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Name = sa.String(64)
ExternalId = sa.String(128)      # ids from the outside world (PBX call ids, agent logins)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)


# ---- configuration ---------------------------------------------------------------------------
class Site(Base):
    __tablename__ = "sites"
    name: Mapped[str] = mapped_column(Name, primary_key=True)
    auto_pause_after_misses: Mapped[int] = mapped_column(sa.Integer, default=3)
    statistics_window_s: Mapped[float] = mapped_column(Seconds, default=900.0)


class Skill(Base):
    __tablename__ = "skills"
    site: Mapped[str] = mapped_column(Name, sa.ForeignKey("sites.name", ondelete="CASCADE"),
                                      primary_key=True)
    name: Mapped[str] = mapped_column(Name, primary_key=True)
    queueing: Mapped[str] = mapped_column(sa.String(16))
    sl_threshold_s: Mapped[float] = mapped_column(Seconds)
    agent_selection: Mapped[str] = mapped_column(sa.String(32))
    wrap_up_s: Mapped[float] = mapped_column(Seconds)
    offer_timeout_s: Mapped[float] = mapped_column(Seconds)
    max_queue_length: Mapped[int | None] = mapped_column(sa.Integer)
    widen_level: Mapped[int] = mapped_column(sa.Integer)
    widen_after_s: Mapped[float] = mapped_column(Seconds)
    aht_estimate_s: Mapped[float] = mapped_column(Seconds)


class Agent(Base):
    __tablename__ = "agents"
    site: Mapped[str] = mapped_column(Name, sa.ForeignKey("sites.name", ondelete="CASCADE"),
                                      primary_key=True)
    agent_id: Mapped[str] = mapped_column(ExternalId, primary_key=True)
    call_selection: Mapped[str] = mapped_column(sa.String(32))
    wrap_up_s: Mapped[float | None] = mapped_column(Seconds)
    voice_blocks_others: Mapped[bool] = mapped_column(sa.Boolean)
    channels: Mapped[dict] = mapped_column(sa.JSON)        # channel name -> capacity


class AgentSkill(Base):
    __tablename__ = "agent_skills"
    __table_args__ = (
        sa.ForeignKeyConstraint(["site", "agent_id"], ["agents.site", "agents.agent_id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["site", "skill"], ["skills.site", "skills.name"],
                                ondelete="CASCADE"),
    )
    site: Mapped[str] = mapped_column(Name, primary_key=True)
    agent_id: Mapped[str] = mapped_column(ExternalId, primary_key=True)
    skill: Mapped[str] = mapped_column(Name, primary_key=True)
    level: Mapped[int] = mapped_column(sa.Integer)


class ServiceObjective(Base):
    """The default SO of a priority on a skill (a contact arriving without one gets it)."""
    __tablename__ = "service_objectives"
    __table_args__ = (
        sa.ForeignKeyConstraint(["site", "skill"], ["skills.site", "skills.name"],
                                ondelete="CASCADE"),
    )
    site: Mapped[str] = mapped_column(Name, primary_key=True)
    skill: Mapped[str] = mapped_column(Name, primary_key=True)
    priority: Mapped[str] = mapped_column(sa.String(8), primary_key=True)
    seconds: Mapped[float] = mapped_column(Seconds)


# ---- the journal and snapshots -------------------------------------------------------------------
class JournalEntry(Base):
    """Every event a site's core accepted (and every configuration change), in order.

    `seq` numbers a site's entries 1, 2, 3 ... without gaps; `fencing_token` is the token of
    the leader that wrote it (None: written without leadership; see SiteFence).
    Not tied to `sites` by a foreign key: the journal must take a site the moment it exists.
    """
    __tablename__ = "journal"
    site: Mapped[str] = mapped_column(Name, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    fencing_token: Mapped[int | None] = mapped_column(sa.BigInteger)
    event_type: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[dict] = mapped_column(sa.JSON)
    time: Mapped[float | None] = mapped_column(Seconds)      # the event's time (None: config)


class SiteFence(Base):
    """The newest leader fencing token written for a site (cluster/store/journal.py).

    Every journal write carrying a token updates its site's row in the same transaction, and
    a new leader's claim raises it: the row lock makes a claim and an older leader's write
    take turns (the claim waits for a write in progress to commit, so the new leader's
    recovery reads it; a write that comes after the claim sees the newer token and is
    refused). A check of the journal's newest token alone cannot do that: under READ
    COMMITTED it cannot see a claim that is not yet committed."""
    __tablename__ = "site_fences"
    site: Mapped[str] = mapped_column(Name, primary_key=True)
    token: Mapped[int] = mapped_column(sa.BigInteger)


class Snapshot(Base):
    """A site's whole state after journal entry `seq` (zlib-compressed JSON)."""
    __tablename__ = "snapshots"
    site: Mapped[str] = mapped_column(Name, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.BigInteger, primary_key=True, autoincrement=False)
    format: Mapped[int] = mapped_column(sa.Integer)
    time: Mapped[float | None] = mapped_column(Seconds)       # the site's clock
    created_at: Mapped[object] = mapped_column(sa.DateTime(timezone=True),
                                               server_default=sa.func.now())
    payload: Mapped[bytes] = mapped_column(sa.LargeBinary)


# ---- what happened: contact records and agent state intervals -----------------------------------
class ContactRecord(Base):
    """One row per contact, written when it reaches its one final state (an interflowed
    contact goes on at another site and is written once, where it ends)."""
    __tablename__ = "contact_records"
    contact_id: Mapped[str] = mapped_column(ExternalId, primary_key=True)
    ani: Mapped[str | None] = mapped_column(sa.String(64))          # card-like runs masked
    dnis: Mapped[str | None] = mapped_column(sa.String(64))
    customer_id: Mapped[str | None] = mapped_column(ExternalId)
    entry_site: Mapped[str] = mapped_column(Name)
    served_site: Mapped[str | None] = mapped_column(Name)           # where it was answered
    final_site: Mapped[str] = mapped_column(Name)                   # where it ended
    skill: Mapped[str] = mapped_column(Name)
    priority: Mapped[str] = mapped_column(sa.String(8))
    service_objective_s: Mapped[float] = mapped_column(Seconds)
    sl_threshold_s: Mapped[float] = mapped_column(Seconds)          # the skill's, at arrival
    channel: Mapped[str] = mapped_column(sa.String(16))
    arrival_time: Mapped[float] = mapped_column(Seconds, index=True)
    offer_time: Mapped[float | None] = mapped_column(Seconds)       # first offer
    answer_time: Mapped[float | None] = mapped_column(Seconds)
    end_time: Mapped[float | None] = mapped_column(Seconds)         # conversation ended
    wrap_up_end_time: Mapped[float | None] = mapped_column(Seconds)  # completed
    abandon_time: Mapped[float | None] = mapped_column(Seconds)
    final_state: Mapped[str] = mapped_column(sa.String(16))
    agent_id: Mapped[str | None] = mapped_column(ExternalId)
    interflows: Mapped[int] = mapped_column(sa.Integer, default=0)
    offers: Mapped[int] = mapped_column(sa.Integer, default=0)      # missed ones included
    queue_position: Mapped[int | None] = mapped_column(sa.Integer)  # first queue treatment
    ewt_predicted_s: Mapped[float | None] = mapped_column(Seconds)  # None: unknown/unbounded
    # A contact that dialled a number (SPEC §10; revision 0003): when its plan first queued
    # it or offered it at once, since its wait for an agent counts from then, not from the
    # IVR (NULL: a plain contact, whose wait counts from arrival_time; or a plan never
    # queued it, skill ""); whether the caller took a callback; the service of the number.
    queue_time: Mapped[float | None] = mapped_column(Seconds)
    callback: Mapped[bool] = mapped_column(sa.Boolean, default=False,
                                           server_default=sa.false())
    service: Mapped[str | None] = mapped_column(Name)
    tier: Mapped[str | None] = mapped_column(sa.String(32))         # the caller's (SPEC §7)
    campaign: Mapped[str | None] = mapped_column(Name)              # an outbound call's (0006)


class AgentStateInterval(Base):
    """An agent's stretch in one state (reason: the not-ready reason code); closed, non-empty
    stretches only, so an agent has at most one starting at a given time (the unique index
    lets a replay after recovery write the same stretch again harmlessly)."""
    __tablename__ = "agent_state_intervals"
    __table_args__ = (sa.Index("ix_agent_state_intervals_agent", "site", "agent_id",
                               "start_time", unique=True),)
    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(Name)
    agent_id: Mapped[str] = mapped_column(ExternalId)
    state: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str] = mapped_column(sa.String(64), default="")
    start_time: Mapped[float] = mapped_column(Seconds, index=True)
    end_time: Mapped[float] = mapped_column(Seconds)


# ---- customers (SPEC §7; revision 0004) ----------------------------------------------------------
E164 = sa.String(16)             # "+" and at most 15 digits, normalised (cluster/customers/phones.py)
Tier = sa.String(32)
# Money in minor units (cents): exact on both databases (SQLite has no decimal type, and
# revenue and commission are sums that must add up to the cent).
Cents = sa.BigInteger


class Customer(Base):
    """A customer profile. `tier` NULL: the configured default tier applies."""
    __tablename__ = "customers"
    customer_id: Mapped[str] = mapped_column(ExternalId, primary_key=True)    # the CRM's id
    name: Mapped[str] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    address: Mapped[str | None] = mapped_column(sa.String(500))
    tier: Mapped[str | None] = mapped_column(Tier)
    attributes: Mapped[dict] = mapped_column(sa.JSON)


class CustomerPhone(Base):
    """A customer's phone number, E.164. The number is the key, so a number belongs to at most
    one customer and a lookup by ANI is one index probe."""
    __tablename__ = "customer_phones"
    number: Mapped[str] = mapped_column(E164, primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ExternalId, sa.ForeignKey("customers.customer_id", ondelete="CASCADE"), index=True)


class CustomerAccount(Base):
    """An account number a caller types in the IVR (SPEC §10), pointing at its customer."""
    __tablename__ = "customer_accounts"
    account_number: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    customer_id: Mapped[str] = mapped_column(
        ExternalId, sa.ForeignKey("customers.customer_id", ondelete="CASCADE"), index=True)


class Interaction(Base):
    """One finished contact in a customer's history (the screen pop shows the last ones).
    Searched by customer, agent, period and disposition: an index for each, with the time
    second so that "the newest first" and "within a period" read one index range."""
    __tablename__ = "interactions"
    __table_args__ = (
        sa.Index("ix_interactions_customer_time", "customer_id", "time"),
        sa.Index("ix_interactions_agent_time", "agent_id", "time"),
        sa.Index("ix_interactions_disposition_time", "disposition", "time"),
    )
    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(
        ExternalId, sa.ForeignKey("customers.customer_id", ondelete="CASCADE"))
    # Unique: writing a finished contact again (a replay after recovery) adds nothing.
    contact_id: Mapped[str | None] = mapped_column(ExternalId, unique=True)
    time: Mapped[float] = mapped_column(Seconds, index=True)
    channel: Mapped[str] = mapped_column(sa.String(16))
    skill: Mapped[str | None] = mapped_column(Name)
    agent_id: Mapped[str | None] = mapped_column(ExternalId)
    disposition: Mapped[str | None] = mapped_column(sa.String(64))      # the wrap-up code
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    final_state: Mapped[str | None] = mapped_column(sa.String(16))     # how the contact ended


class ContactDisposition(Base):
    """The agent's wrap-up of a contact (SPEC §7): kept apart from the interaction because
    it may come first (a call's disposition is given during its wrap-up, and the contact's
    record, which makes the interaction, is written once the wrap-up ends). The interaction
    takes it up whichever comes first (cluster/store/interactions.py)."""
    __tablename__ = "contact_dispositions"
    contact_id: Mapped[str] = mapped_column(ExternalId, primary_key=True)
    agent_id: Mapped[str | None] = mapped_column(ExternalId)
    time: Mapped[float] = mapped_column(Seconds)
    disposition: Mapped[str | None] = mapped_column(sa.String(64))
    notes: Mapped[str] = mapped_column(sa.Text, default="")


class CustomerNote(Base):
    """A free note on a customer, apart from any contact (an agent's or the CRM's)."""
    __tablename__ = "customer_notes"
    __table_args__ = (sa.Index("ix_customer_notes_customer_time", "customer_id", "time"),)
    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(
        ExternalId, sa.ForeignKey("customers.customer_id", ondelete="CASCADE"))
    time: Mapped[float] = mapped_column(Seconds)
    author: Mapped[str | None] = mapped_column(ExternalId)
    text: Mapped[str] = mapped_column(sa.Text)


# ---- inbound marketing (SPEC §7) ---------------------------------------------------------------------
class MarketingOffer(Base):
    """An offer agents present to listed callers, highest `priority` first (the admin changes
    it at any time); valid from `valid_from` until before `valid_to` (NULL: open-ended)."""
    __tablename__ = "marketing_offers"
    offer_id: Mapped[str] = mapped_column(Name, primary_key=True)
    product: Mapped[str] = mapped_column(sa.String(128), index=True)
    pitch: Mapped[str] = mapped_column(sa.Text, default="")
    selling_points: Mapped[list] = mapped_column(sa.JSON)              # list of strings
    script_ref: Mapped[str | None] = mapped_column(sa.String(256))
    valid_from: Mapped[float | None] = mapped_column(Seconds)
    valid_to: Mapped[float | None] = mapped_column(Seconds)
    value_cents: Mapped[int] = mapped_column(Cents, default=0)         # revenue of one sale
    commission_cents: Mapped[int] = mapped_column(Cents, default=0)    # the agent's, per sale
    priority: Mapped[int] = mapped_column(sa.Integer, default=0)


class MarketingTarget(Base):
    """A row of a target list: this customer is eligible for offers of this product.
    `phone` (optional) is the number the list was drawn for, matched by ANI as well."""
    __tablename__ = "marketing_targets"
    customer_id: Mapped[str] = mapped_column(
        ExternalId, sa.ForeignKey("customers.customer_id", ondelete="CASCADE"),
        primary_key=True)
    product: Mapped[str] = mapped_column(sa.String(128), primary_key=True, index=True)
    phone: Mapped[str | None] = mapped_column(E164, index=True)
    list_name: Mapped[str] = mapped_column(Name, default="")


OUTCOMES = ("accepted", "declined", "not_presented")


class MarketingOutcome(Base):
    """What became of an offer on a contact; statistics and the agents' ranking count these.
    An accepted offer names its order."""
    __tablename__ = "marketing_outcomes"
    __table_args__ = (
        sa.CheckConstraint(f"result IN {OUTCOMES!r}", name="result"),
        sa.CheckConstraint("result != 'accepted' OR order_reference IS NOT NULL",
                           name="accepted_has_order"),
        # One outcome per offer and contact: a completion sent again counts once.
        sa.UniqueConstraint("contact_id", "offer_id",
                            name="uq_marketing_outcomes_contact_offer"),
        sa.Index("ix_marketing_outcomes_agent_time", "agent_id", "time"),
        sa.Index("ix_marketing_outcomes_offer_time", "offer_id", "time"),
    )
    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    offer_id: Mapped[str] = mapped_column(
        Name, sa.ForeignKey("marketing_offers.offer_id", ondelete="CASCADE"))
    customer_id: Mapped[str | None] = mapped_column(
        ExternalId, sa.ForeignKey("customers.customer_id", ondelete="SET NULL"), index=True)
    contact_id: Mapped[str | None] = mapped_column(ExternalId)
    agent_id: Mapped[str | None] = mapped_column(ExternalId)
    time: Mapped[float] = mapped_column(Seconds, index=True)
    result: Mapped[str] = mapped_column(sa.String(16))
    order_reference: Mapped[str | None] = mapped_column(sa.String(128))


TABLES = Base.metadata.tables


# ---- outbound campaigns (SPEC §6; revision 0006) ------------------------------------------------
class Campaign(Base):
    """A campaign's configuration as Admin put it (`document`: the JSON of
    cluster/campaigns/definition.py) and where it stands (draft, running, paused, stopped)."""
    __tablename__ = "campaigns"
    name: Mapped[str] = mapped_column(Name, primary_key=True)
    site: Mapped[str] = mapped_column(Name)
    skill: Mapped[str] = mapped_column(Name)
    document: Mapped[dict] = mapped_column(sa.JSON)
    state: Mapped[str] = mapped_column(sa.String(16))


class CampaignRecord(Base):
    """A row of a campaign's list: the number is personal data, kept here and sent to the PBX
    in the `dial` action only (the core gets the record id, a zone group and a keyed hash).
    `position` keeps the list's order across imports."""
    __tablename__ = "campaign_records"
    campaign: Mapped[str] = mapped_column(
        Name, sa.ForeignKey("campaigns.name", ondelete="CASCADE"), primary_key=True)
    record_id: Mapped[str] = mapped_column(ExternalId, primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer)
    phone: Mapped[str] = mapped_column(E164)
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    customer_id: Mapped[str | None] = mapped_column(ExternalId)


class CenterSecret(Base):
    """A secret of the center, made once (`phone_key`: the key of the numbers' keyed hashes,
    cluster/phone_keys.py, so that the hashes stay the same across restarts)."""
    __tablename__ = "center_secrets"
    name: Mapped[str] = mapped_column(Name, primary_key=True)
    value: Mapped[bytes] = mapped_column(sa.LargeBinary(64))


class DoNotCallEntry(Base):
    """A number on a do-not-call list, as its keyed hash only (never the number): `scope`
    is "" for the global list, else the campaign's name (no foreign key: a campaign's
    list may be kept before or after the campaign itself)."""
    __tablename__ = "do_not_call"
    scope: Mapped[str] = mapped_column(Name, primary_key=True)
    key: Mapped[bytes] = mapped_column(sa.LargeBinary(16), primary_key=True)


# ---- the campaigns' journal (SPEC §6 failover; revision 0009) ------------------------------------
class CampaignJournalEntry(Base):
    """One step of a campaign's pacer as its host fed it (cluster/campaigns/journal.py):
    `entry` is JSON of the events, written before the decisions they caused were carried
    out, so that a restarted server or a new leader replays them into a new pacer and it
    stands where the old one stood. Seq 1 holds the do-not-call lists the pacer started
    with (their keys: never a number); a new leader's first entry is a claim with its
    term (`token`): the deposed leader's next write collides with it and fails."""
    __tablename__ = "campaign_journal"
    campaign: Mapped[str] = mapped_column(Name, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    token: Mapped[int | None] = mapped_column(sa.BigInteger)
    entry: Mapped[dict] = mapped_column(sa.JSON)


class CampaignSnapshot(Base):
    """A campaign's pacer as it stood after journal entry `seq` (cluster/campaigns/journal.py;
    revision 0010): `state` is JSON data (sites/dialer/campaign.py `Campaign.snapshot`, and
    the journal's pace codec), never code and never a number. A resume starts from the
    newest and replays only the entries after it."""
    __tablename__ = "campaign_snapshots"
    campaign: Mapped[str] = mapped_column(Name, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    token: Mapped[int | None] = mapped_column(sa.BigInteger)
    state: Mapped[dict] = mapped_column(sa.JSON)


# ---- campaign dial attempts (SPEC §6 reports; revision 0008) -----------------------------------
class CampaignAttempt(Base):
    """One call a campaign's pacer dialled, keyed by its call id: which record (its id, never
    the number), when, what the PBX answered (`outcome`: live, machine, busy, no_answer,
    failed; NULL while it rings) and, for a live answer, whether an agent took it
    (`result`: connected or abandoned) and when. Contact records exist only for live
    answers; the campaign report counts attempts here."""
    __tablename__ = "campaign_attempts"
    attempt_id: Mapped[str] = mapped_column(ExternalId, primary_key=True)
    campaign: Mapped[str] = mapped_column(Name, index=True)
    record_id: Mapped[str] = mapped_column(ExternalId)
    dialled_time: Mapped[float] = mapped_column(Seconds, index=True)
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    result: Mapped[str | None] = mapped_column(sa.String(16))
    result_time: Mapped[float | None] = mapped_column(Seconds)
