"""Campaign dial attempts (SPEC §6 reports): one row per call a pacer dialled, with its
outcome, so that `vcc report --by campaign` counts the calls that never reached an agent
(they leave no contact record). Record ids only, never numbers.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "campaign_attempts",
        sa.Column("attempt_id", sa.String(length=128), nullable=False),
        sa.Column("campaign", sa.String(length=64), nullable=False),
        sa.Column("record_id", sa.String(length=128), nullable=False),
        sa.Column("dialled_time", sa.Double(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=True),
        sa.Column("result_time", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("attempt_id", name=op.f("pk_campaign_attempts")),
    )
    op.create_index(op.f("ix_campaign_attempts_campaign"), "campaign_attempts", ["campaign"])
    op.create_index(op.f("ix_campaign_attempts_dialled_time"), "campaign_attempts",
                    ["dialled_time"])


def downgrade() -> None:
    op.drop_index(op.f("ix_campaign_attempts_dialled_time"), table_name="campaign_attempts")
    op.drop_index(op.f("ix_campaign_attempts_campaign"), table_name="campaign_attempts")
    op.drop_table("campaign_attempts")
