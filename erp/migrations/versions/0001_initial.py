"""central returns API: master data, sync ledger, events, units, exceptions, audit, metrics

Revision ID: 0001
Revises: 
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit',
    sa.Column('audit_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=True),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('actor', sa.String(length=32), nullable=True),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('skew_ms', sa.BigInteger(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('audit_id')
    )
    op.create_table('categories',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('checklist', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('changes',
    sa.Column('seq', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.create_index('changes_device', ['device_id', 'seq'], unique=False)

    op.create_table('condition_codes',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('disposition_rules',
    sa.Column('rule_id', sa.String(length=40), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('body', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('rule_id')
    )
    op.create_table('events',
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('device_seq', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('hlc', sa.String(length=22), nullable=False),
    sa.Column('actor', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('schema_version', sa.Integer(), nullable=False),
    sa.Column('base_version', sa.BigInteger(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('rule', sa.String(length=40), nullable=True),
    sa.Column('exception_id', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('event_id'),
    sa.UniqueConstraint('device_id', 'device_seq', name='events_device_seq')
    )
    op.create_table('exceptions',
    sa.Column('exception_id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('lpn', sa.String(length=16), nullable=True),
    sa.Column('bin_code', sa.String(length=16), nullable=True),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('event_id', sa.String(length=36), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=32), nullable=True),
    sa.Column('resolution', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('exception_id')
    )
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.create_index('exceptions_open', ['status', 'opened_at'], unique=False)

    op.create_table('photos',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256')
    )
    op.create_table('reason_codes',
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('label', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('rmas',
    sa.Column('rma_id', sa.String(length=16), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('order_ref', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_received_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('rma_id')
    )
    op.create_table('sites',
    sa.Column('site_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('site_id')
    )
    op.create_table('stock',
    sa.Column('sku', sa.String(length=32), nullable=False),
    sa.Column('bin_code', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('qty', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('sku', 'bin_code', 'status')
    )
    op.create_table('units',
    sa.Column('lpn', sa.String(length=16), nullable=False),
    sa.Column('sku', sa.String(length=32), nullable=False),
    sa.Column('rma_id', sa.String(length=16), nullable=True),
    sa.Column('line_no', sa.Integer(), nullable=True),
    sa.Column('serial', sa.String(length=40), nullable=True),
    sa.Column('lot', sa.String(length=40), nullable=True),
    sa.Column('expiry', sa.String(length=10), nullable=True),
    sa.Column('reason_code', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('held_from', sa.String(length=16), nullable=True),
    sa.Column('bin_code', sa.String(length=16), nullable=False),
    sa.Column('condition_codes', sa.JSON(), nullable=False),
    sa.Column('grade', sa.String(length=1), nullable=True),
    sa.Column('disposition', sa.String(length=16), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('received_device', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reclassified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stored_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('lpn')
    )
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.create_index('units_serial', ['sku', 'serial'], unique=False)

    op.create_table('users',
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('pin_hash', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('bins',
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('site_id', sa.String(length=32), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('zone', sa.String(length=1), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=True),
    sa.Column('owner', sa.String(length=32), nullable=True),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.Column('reassigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.site_id'], ),
    sa.PrimaryKeyConstraint('code')
    )
    op.create_table('devices',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('site_id', sa.String(length=32), nullable=False),
    sa.Column('secret_hash', sa.Text(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('provisioned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['sites.site_id'], ),
    sa.PrimaryKeyConstraint('device_id')
    )
    op.create_table('items',
    sa.Column('sku', sa.String(length=32), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('category', sa.String(length=40), nullable=False),
    sa.Column('serial_tracked', sa.Boolean(), nullable=False),
    sa.Column('lot_tracked', sa.Boolean(), nullable=False),
    sa.Column('unit_value_cents', sa.BigInteger(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['category'], ['categories.code'], ),
    sa.PrimaryKeyConstraint('sku')
    )
    op.create_table('refunds',
    sa.Column('rma_id', sa.String(length=16), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('amount_cents', sa.BigInteger(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['rma_id'], ['rmas.rma_id'], ),
    sa.PrimaryKeyConstraint('rma_id')
    )
    op.create_table('rma_lines',
    sa.Column('rma_id', sa.String(length=16), nullable=False),
    sa.Column('line_no', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=32), nullable=False),
    sa.Column('expected_qty', sa.Integer(), nullable=False),
    sa.Column('reason_code', sa.String(length=40), nullable=False),
    sa.Column('received_qty', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['rma_id'], ['rmas.rma_id'], ),
    sa.PrimaryKeyConstraint('rma_id', 'line_no')
    )
    op.create_table('item_gtins',
    sa.Column('gtin', sa.String(length=14), nullable=False),
    sa.Column('sku', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['sku'], ['items.sku'], ),
    sa.PrimaryKeyConstraint('gtin')
    )
    with op.batch_alter_table('item_gtins', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_gtins_sku'), ['sku'], unique=False)

    op.create_table('ledger',
    sa.Column('device_id', sa.String(length=64), nullable=False),
    sa.Column('last_seq', sa.BigInteger(), nullable=False),
    sa.Column('last_skew_ms', sa.BigInteger(), nullable=True),
    sa.Column('last_push_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_pull_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['devices.device_id'], ),
    sa.PrimaryKeyConstraint('device_id')
    )


def downgrade() -> None:
    op.drop_table('ledger')
    with op.batch_alter_table('item_gtins', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_gtins_sku'))

    op.drop_table('item_gtins')
    op.drop_table('rma_lines')
    op.drop_table('refunds')
    op.drop_table('items')
    op.drop_table('devices')
    op.drop_table('bins')
    op.drop_table('users')
    with op.batch_alter_table('units', schema=None) as batch_op:
        batch_op.drop_index('units_serial')

    op.drop_table('units')
    op.drop_table('stock')
    op.drop_table('sites')
    op.drop_table('rmas')
    op.drop_table('reason_codes')
    op.drop_table('photos')
    with op.batch_alter_table('exceptions', schema=None) as batch_op:
        batch_op.drop_index('exceptions_open')

    op.drop_table('exceptions')
    op.drop_table('events')
    op.drop_table('disposition_rules')
    op.drop_table('condition_codes')
    with op.batch_alter_table('changes', schema=None) as batch_op:
        batch_op.drop_index('changes_device')

    op.drop_table('changes')
    op.drop_table('categories')
    op.drop_table('audit')
