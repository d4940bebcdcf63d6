"""Contact records of routing-plan contacts: queue_time, callback, service.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding nullable columns, and one with a server default, needs no table copy even on
    # SQLite (batch mode alters in place when it can): a store with millions of records
    # upgrades in an instant. Records written before stay plain contacts: queue_time NULL
    # (their wait counts from arrival, as it did), no callback, no service.
    with op.batch_alter_table("contact_records") as batch:
        batch.add_column(sa.Column("queue_time", sa.Double(), nullable=True))
        batch.add_column(sa.Column("callback", sa.Boolean(), server_default=sa.false(),
                                   nullable=False))
        batch.add_column(sa.Column("service", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("contact_records") as batch:
        batch.drop_column("service")
        batch.drop_column("callback")
        batch.drop_column("queue_time")
