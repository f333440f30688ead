"""Privacy: the access log, and the legal hold flag of incidents.

Revision ID: 0002_privacy
Revises: 0001_baseline
Create Date: 2026-11-26 09:10:00

Column types are spelled out here rather than imported from the models, so that this revision
keeps creating the same schema whatever the models become later.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
UTC_TIME = sa.DateTime(timezone=True)

revision = "0002_privacy"
down_revision = "0001_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create access_log and add incidents.legal_hold (false for existing incidents)."""
    op.create_table(
        "access_log",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=48), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("details", JSON_DOCUMENT, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_access_log_at"), "access_log", ["at"], unique=False)
    op.create_index(op.f("ix_access_log_username"), "access_log", ["username"], unique=False)
    op.create_index(op.f("ix_access_log_action"), "access_log", ["action"], unique=False)
    op.create_index(
        "ix_access_log_target", "access_log", ["target_type", "target_id"], unique=False
    )
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("legal_hold", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    """Drop incidents.legal_hold and the access log."""
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("legal_hold")
    op.drop_index("ix_access_log_target", table_name="access_log")
    op.drop_index(op.f("ix_access_log_action"), table_name="access_log")
    op.drop_index(op.f("ix_access_log_username"), table_name="access_log")
    op.drop_index(op.f("ix_access_log_at"), table_name="access_log")
    op.drop_table("access_log")
