"""Customers, their phone numbers, account numbers, interactions and notes; marketing offers,
target lists and outcomes (SPEC §7, issue 18).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NAME = sa.String(length=64)
EXTERNAL_ID = sa.String(length=128)
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
E164 = sa.String(length=16)


def _customer_fk(table: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    """Dropping a customer drops what is theirs (SET NULL: a marketing outcome keeps counting
    for its agent and offer without the customer)."""
    return sa.ForeignKeyConstraint(["customer_id"], ["customers.customer_id"],
                                   name=op.f(f"fk_{table}_customer_id_customers"),
                                   ondelete=ondelete)


def upgrade() -> None:
    # New tables only: nothing written before changes, so any store upgrades in an instant.
    op.create_table(
        "customers",
        sa.Column("customer_id", EXTERNAL_ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("address", sa.String(length=500), nullable=True),
        sa.Column("tier", sa.String(length=32), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customers")))
    op.create_table(
        "customer_phones",
        sa.Column("number", E164, nullable=False),
        sa.Column("customer_id", EXTERNAL_ID, nullable=False),
        _customer_fk("customer_phones"),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_customer_phones")))
    op.create_index(op.f("ix_customer_phones_customer_id"), "customer_phones", ["customer_id"])
    op.create_table(
        "customer_accounts",
        sa.Column("account_number", sa.String(length=64), nullable=False),
        sa.Column("customer_id", EXTERNAL_ID, nullable=False),
        _customer_fk("customer_accounts"),
        sa.PrimaryKeyConstraint("account_number", name=op.f("pk_customer_accounts")))
    op.create_index(op.f("ix_customer_accounts_customer_id"), "customer_accounts",
                    ["customer_id"])
    op.create_table(
        "interactions",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", EXTERNAL_ID, nullable=False),
        sa.Column("contact_id", EXTERNAL_ID, nullable=True),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("skill", NAME, nullable=True),
        sa.Column("agent_id", EXTERNAL_ID, nullable=True),
        sa.Column("disposition", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        _customer_fk("interactions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
        sa.UniqueConstraint("contact_id", name=op.f("uq_interactions_contact_id")))
    op.create_index("ix_interactions_customer_time", "interactions", ["customer_id", "time"])
    op.create_index("ix_interactions_agent_time", "interactions", ["agent_id", "time"])
    op.create_index("ix_interactions_disposition_time", "interactions",
                    ["disposition", "time"])
    op.create_index(op.f("ix_interactions_time"), "interactions", ["time"])
    op.create_table(
        "customer_notes",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("customer_id", EXTERNAL_ID, nullable=False),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("author", EXTERNAL_ID, nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        _customer_fk("customer_notes"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_notes")))
    op.create_index("ix_customer_notes_customer_time", "customer_notes", ["customer_id", "time"])

    op.create_table(
        "marketing_offers",
        sa.Column("offer_id", NAME, nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("pitch", sa.Text(), nullable=False),
        sa.Column("selling_points", sa.JSON(), nullable=False),
        sa.Column("script_ref", sa.String(length=256), nullable=True),
        sa.Column("valid_from", sa.Double(), nullable=True),
        sa.Column("valid_to", sa.Double(), nullable=True),
        sa.Column("value_cents", sa.BigInteger(), nullable=False),
        sa.Column("commission_cents", sa.BigInteger(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("offer_id", name=op.f("pk_marketing_offers")))
    op.create_index(op.f("ix_marketing_offers_product"), "marketing_offers", ["product"])
    op.create_table(
        "marketing_targets",
        sa.Column("customer_id", EXTERNAL_ID, nullable=False),
        sa.Column("product", sa.String(length=128), nullable=False),
        sa.Column("phone", E164, nullable=True),
        sa.Column("list_name", NAME, nullable=False),
        _customer_fk("marketing_targets"),
        sa.PrimaryKeyConstraint("customer_id", "product", name=op.f("pk_marketing_targets")))
    op.create_index(op.f("ix_marketing_targets_phone"), "marketing_targets", ["phone"])
    op.create_index(op.f("ix_marketing_targets_product"), "marketing_targets", ["product"])
    op.create_table(
        "marketing_outcomes",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("offer_id", NAME, nullable=False),
        sa.Column("customer_id", EXTERNAL_ID, nullable=True),
        sa.Column("contact_id", EXTERNAL_ID, nullable=True),
        sa.Column("agent_id", EXTERNAL_ID, nullable=True),
        sa.Column("time", sa.Double(), nullable=False),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("order_reference", sa.String(length=128), nullable=True),
        sa.CheckConstraint("result IN ('accepted', 'declined', 'not_presented')",
                           name=op.f("ck_marketing_outcomes_result")),
        sa.CheckConstraint("result != 'accepted' OR order_reference IS NOT NULL",
                           name=op.f("ck_marketing_outcomes_accepted_has_order")),
        _customer_fk("marketing_outcomes", ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["offer_id"], ["marketing_offers.offer_id"],
                                name=op.f("fk_marketing_outcomes_offer_id_marketing_offers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_marketing_outcomes")),
        sa.UniqueConstraint("contact_id", "offer_id", name="uq_marketing_outcomes_contact_offer"))
    op.create_index("ix_marketing_outcomes_agent_time", "marketing_outcomes", ["agent_id", "time"])
    op.create_index("ix_marketing_outcomes_offer_time", "marketing_outcomes", ["offer_id", "time"])
    op.create_index(op.f("ix_marketing_outcomes_customer_id"), "marketing_outcomes",
                    ["customer_id"])
    op.create_index(op.f("ix_marketing_outcomes_time"), "marketing_outcomes", ["time"])


def downgrade() -> None:
    # Children before parents; dropping a table drops its indexes.
    for table in ("marketing_outcomes", "marketing_targets", "marketing_offers",
                  "customer_notes", "interactions", "customer_accounts", "customer_phones",
                  "customers"):
        op.drop_table(table)
