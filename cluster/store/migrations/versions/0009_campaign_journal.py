"""The campaigns' journal (SPEC §6 failover): each step of a campaign's pacer, as the events
its host fed it, written before its dials go out, so that a restarted server or a new
leader resumes a running campaign where it stood. Keys of numbers only, never numbers.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_journal",
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=True),
        sa.Column("entry", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("campaign", "seq", name=op.f("pk_campaign_journal")),
    )


def downgrade() -> None:
    op.drop_table("campaign_journal")
