"""join_records: half of each page left free on PostgreSQL, for the label's update

A join record is written twice: its prediction, then its label. With full pages (fill factor
100) the label's update cannot stay on the row's page, so PostgreSQL writes a new entry into
both indexes of the table for every label; with room on the page the update is a heap-only
tuple (HOT) update, the indexes untouched (the labels' UPDATE took about half the time in
a measure of 200,000 labels, issue 15). Pages filled before this revision keep their rows;
new pages are half filled. SQLite has no such setting.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE join_records SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE join_records RESET (fillfactor)")
