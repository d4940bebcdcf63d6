"""Initial schema: configuration, journal, snapshots, contact records, agent state intervals.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME = sa.String(length=64)
EXTERNAL_ID = sa.String(length=128)
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("name", NAME, nullable=False),
        sa.Column("auto_pause_after_misses", sa.Integer(), nullable=False),
        sa.Column("statistics_window_s", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sites")))
    op.create_table(
        "skills",
        sa.Column("site", NAME, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("queueing", sa.String(length=16), nullable=False),
        sa.Column("sl_threshold_s", sa.Double(), nullable=False),
        sa.Column("agent_selection", sa.String(length=32), nullable=False),
        sa.Column("wrap_up_s", sa.Double(), nullable=False),
        sa.Column("offer_timeout_s", sa.Double(), nullable=False),
        sa.Column("max_queue_length", sa.Integer(), nullable=True),
        sa.Column("widen_level", sa.Integer(), nullable=False),
        sa.Column("widen_after_s", sa.Double(), nullable=False),
        sa.Column("aht_estimate_s", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["site"], ["sites.name"], name=op.f("fk_skills_site_sites"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site", "name", name=op.f("pk_skills")))
    op.create_table(
        "agents",
        sa.Column("site", NAME, nullable=False),
        sa.Column("agent_id", EXTERNAL_ID, nullable=False),
        sa.Column("call_selection", sa.String(length=32), nullable=False),
        sa.Column("wrap_up_s", sa.Double(), nullable=True),
        sa.Column("voice_blocks_others", sa.Boolean(), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["site"], ["sites.name"], name=op.f("fk_agents_site_sites"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site", "agent_id", name=op.f("pk_agents")))
    op.create_table(
        "agent_skills",
        sa.Column("site", NAME, nullable=False),
        sa.Column("agent_id", EXTERNAL_ID, nullable=False),
        sa.Column("skill", NAME, nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["site", "agent_id"], ["agents.site", "agents.agent_id"],
                                name=op.f("fk_agent_skills_site_agents"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["site", "skill"], ["skills.site", "skills.name"],
                                name=op.f("fk_agent_skills_site_skills"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site", "agent_id", "skill", name=op.f("pk_agent_skills")))
    op.create_table(
        "service_objectives",
        sa.Column("site", NAME, nullable=False),
        sa.Column("skill", NAME, nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["site", "skill"], ["skills.site", "skills.name"],
                                name=op.f("fk_service_objectives_site_skills"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("site", "skill", "priority", name=op.f("pk_service_objectives")))

    op.create_table(
        "journal",
        sa.Column("site", NAME, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), nullable=True),
        sa.Column("event_type", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("time", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("site", "seq", name=op.f("pk_journal")))
    op.create_table(
        "snapshots",
        sa.Column("site", NAME, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("format", sa.Integer(), nullable=False),
        sa.Column("time", sa.Double(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("site", "seq", name=op.f("pk_snapshots")))

    op.create_table(
        "contact_records",
        sa.Column("contact_id", EXTERNAL_ID, nullable=False),
        sa.Column("ani", sa.String(length=64), nullable=True),
        sa.Column("dnis", sa.String(length=64), nullable=True),
        sa.Column("customer_id", EXTERNAL_ID, nullable=True),
        sa.Column("entry_site", NAME, nullable=False),
        sa.Column("served_site", NAME, nullable=True),
        sa.Column("final_site", NAME, nullable=False),
        sa.Column("skill", NAME, nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("service_objective_s", sa.Double(), nullable=False),
        sa.Column("sl_threshold_s", sa.Double(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("arrival_time", sa.Double(), nullable=False),
        sa.Column("offer_time", sa.Double(), nullable=True),
        sa.Column("answer_time", sa.Double(), nullable=True),
        sa.Column("end_time", sa.Double(), nullable=True),
        sa.Column("wrap_up_end_time", sa.Double(), nullable=True),
        sa.Column("abandon_time", sa.Double(), nullable=True),
        sa.Column("final_state", sa.String(length=16), nullable=False),
        sa.Column("agent_id", EXTERNAL_ID, nullable=True),
        sa.Column("interflows", sa.Integer(), nullable=False),
        sa.Column("offers", sa.Integer(), nullable=False),
        sa.Column("queue_position", sa.Integer(), nullable=True),
        sa.Column("ewt_predicted_s", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_records")))
    op.create_index(op.f("ix_contact_records_arrival_time"), "contact_records", ["arrival_time"])
    op.create_table(
        "agent_state_intervals",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("site", NAME, nullable=False),
        sa.Column("agent_id", EXTERNAL_ID, nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("start_time", sa.Double(), nullable=False),
        sa.Column("end_time", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_state_intervals")))
    op.create_index("ix_agent_state_intervals_agent", "agent_state_intervals",
                    ["site", "agent_id", "start_time"], unique=True)
    op.create_index(op.f("ix_agent_state_intervals_start_time"), "agent_state_intervals",
                    ["start_time"])


def downgrade() -> None:
    for table in ("agent_state_intervals", "contact_records", "snapshots", "journal",
                  "service_objectives", "agent_skills", "agents", "skills", "sites"):
        op.drop_table(table)
