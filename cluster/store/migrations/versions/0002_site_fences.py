"""Site fences: the newest leader fencing token per site, locked by every fenced write.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "site_fences",
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("site", name=op.f("pk_site_fences")))
    # A journal written before this revision: each site's fence starts at its newest token.
    op.execute("INSERT INTO site_fences (site, token) SELECT site, MAX(fencing_token) "
               "FROM journal WHERE fencing_token IS NOT NULL GROUP BY site")


def downgrade() -> None:
    op.drop_table("site_fences")
