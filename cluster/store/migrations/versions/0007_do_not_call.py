"""Do-not-call lists in the live cluster (SPEC §6) and the center's secret for the numbers'
keyed hashes (cluster/phone_keys.py): the lists hold keys only, never a number in clear,
and the secret is made once per center so that the keys stay the same across restarts.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "center_secrets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.LargeBinary(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_center_secrets")),
    )
    op.create_table(
        "do_not_call",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key", sa.LargeBinary(length=16), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_do_not_call")),
    )


def downgrade() -> None:
    op.drop_table("do_not_call")
    op.drop_table("center_secrets")
