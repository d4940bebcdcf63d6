"""Campaign snapshots (SPEC §6 failover): a campaign's pacer as it stood after a journal
entry, as JSON data, so that a resume replays only the entries after the newest one.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_snapshots",
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("campaign", "seq", name=op.f("pk_campaign_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("campaign_snapshots")
