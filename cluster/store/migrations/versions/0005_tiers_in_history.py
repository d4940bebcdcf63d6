"""The caller's tier on contact records (`by_tier` in reports); how a contact ended on its
customer's interaction (an abandoned call is history too, without a disposition); agents'
dispositions of contacts, kept until the contact's interaction takes them up.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns only: no table copy even on SQLite, so a store with millions of
    # records upgrades in an instant. Records written before have no tier (reports group
    # them under the default tier's absence, "").
    with op.batch_alter_table("contact_records") as batch:
        batch.add_column(sa.Column("tier", sa.String(length=32), nullable=True))
    with op.batch_alter_table("interactions") as batch:
        batch.add_column(sa.Column("final_state", sa.String(length=16), nullable=True))
    op.create_table(
        "contact_dispositions",
        sa.Column("contact_id", sa.String(length=128), nullable=False),
        sa.Column("agent_id", sa.String(length=128), nullable=True),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("disposition", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_contact_dispositions")),
    )


def downgrade() -> None:
    op.drop_table("contact_dispositions")
    with op.batch_alter_table("interactions") as batch:
        batch.drop_column("final_state")
    with op.batch_alter_table("contact_records") as batch:
        batch.drop_column("tier")
