"""bin counts for inventory variance

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('bin_counts',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('sku', sa.String(length=32), nullable=False),
    sa.Column('bin_code', sa.String(length=16), nullable=False),
    sa.Column('counted', sa.Integer(), nullable=False),
    sa.Column('expected', sa.Integer(), nullable=False),
    sa.Column('counted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('event_id', 'sku')
    )


def downgrade() -> None:
    op.drop_table('bin_counts')
