"""projects, provider secrets, task retries, encrypted conversation titles

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "provider", "name", name="uq_provider_secrets_owner_name"),
    )
    with op.batch_alter_table("provider_secrets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_secrets_user_id"), ["user_id"], unique=False)

    op.create_table(
        "projects",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("venv_path", sa.String(length=1024), nullable=True),
        sa.Column("kernel_name", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("path"),
    )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_projects_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("retry_of", sa.String(length=32), nullable=True))

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.alter_column("title", existing_type=sa.String(length=200), type_=sa.Text())


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.alter_column("title", existing_type=sa.Text(), type_=sa.String(length=200))
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_column("retry_of")
        batch_op.drop_column("attempts")
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_projects_user_id"))
    op.drop_table("projects")
    with op.batch_alter_table("provider_secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_secrets_user_id"))
    op.drop_table("provider_secrets")
