"""drift_detectors: concept-drift detector state in a table of its own

Until now a detector's state was stored as a performance pane at a pane index far below any
real one (-2**62), as msgpack ``[seen, detector bytes]``. Those rows move here, one column each
(issue 13).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

import msgspec
import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_DETECTOR_PANE = -(2**62)  # where revision 0010 kept them
_KEY = ("job", "join_key", "model_id", "model_version")
_panes = sa.table("performance_panes", *map(sa.column, (*_KEY, "pane", "state")))
_detectors = sa.table("drift_detectors", *map(sa.column, (*_KEY, "seen", "state")))


def upgrade() -> None:
    op.create_table(
        "drift_detectors",
        sa.Column("job", sa.String(200), primary_key=True),
        sa.Column("join_key", sa.String(100), primary_key=True),
        sa.Column("model_id", sa.String(200), primary_key=True),
        sa.Column("model_version", sa.String(200), primary_key=True),
        sa.Column("seen", sa.BigInteger, nullable=False),
        sa.Column("state", sa.LargeBinary, nullable=False),
    )
    conn = op.get_bind()
    old = conn.execute(sa.select(_panes).where(_panes.c.pane == _DETECTOR_PANE)).mappings().all()
    rows = []
    for r in old:
        seen, state = msgspec.msgpack.decode(bytes(r["state"]))
        rows.append(
            {
                "job": r["job"],
                "join_key": r["join_key"],
                "model_id": r["model_id"],
                "model_version": r["model_version"],
                "seen": seen,
                "state": state,
            }
        )
    if rows:
        op.bulk_insert(_detectors, rows)
    conn.execute(sa.delete(_panes).where(_panes.c.pane == _DETECTOR_PANE))


def downgrade() -> None:
    conn = op.get_bind()
    rows = [
        {
            "job": r["job"],
            "join_key": r["join_key"],
            "model_id": r["model_id"],
            "model_version": r["model_version"],
            "pane": _DETECTOR_PANE,
            "state": msgspec.msgpack.encode([r["seen"], bytes(r["state"])]),
        }
        for r in conn.execute(sa.select(_detectors)).mappings()
    ]
    if rows:
        op.bulk_insert(_panes, rows)
    op.drop_table("drift_detectors")
