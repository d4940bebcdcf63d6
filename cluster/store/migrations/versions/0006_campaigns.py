"""Outbound campaigns (SPEC §6): their configuration as Admin put it, their lists (the numbers
are personal data: here and in the PBX's `dial` action only), and the campaign of an
outbound call on its contact record (campaign reports).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("skill", sa.String(length=64), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_campaigns")),
    )
    op.create_table(
        "campaign_records",
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("customer_id", sa.String(length=128), nullable=True),
        sa.ForeignKeyConstraint(["campaign"], ["campaigns.name"], ondelete="CASCADE",
                                name=op.f("fk_campaign_records_campaign_campaigns")),
        sa.PrimaryKeyConstraint("campaign", "record_id", name=op.f("pk_campaign_records")),
    )
    # Nullable: no table copy, even on SQLite.
    with op.batch_alter_table("contact_records") as batch:
        batch.add_column(sa.Column("campaign", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_records") as batch:
        batch.drop_column("campaign")
    op.drop_table("campaign_records")
    op.drop_table("campaigns")
