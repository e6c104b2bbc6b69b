"""notebook chats: a conversation shared by everyone who can open a notebook

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        # NULL for private chats (NULLs never collide in a unique index); the notebook's path otherwise.
        batch_op.add_column(sa.Column("shared_path", sa.String(length=1024), nullable=True))
        batch_op.create_index("ix_conversations_shared_path", ["shared_path"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_shared_path")
        batch_op.drop_column("shared_path")
