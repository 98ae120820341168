"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# The ledger is append-only: triggers refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL), so even
# the table owner must drop a trigger, visibly, to tamper; the app role is not the owner (ledger.roles).
LEDGER_GUARDS: dict[str, list[str]] = {
    "postgresql": [
        """CREATE OR REPLACE FUNCTION ideamine_ledger_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the ledger is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$""",
        "CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger "
        "FOR EACH ROW EXECUTE FUNCTION ideamine_ledger_append_only()",
        "CREATE TRIGGER ledger_no_truncate BEFORE TRUNCATE ON ledger "
        "FOR EACH STATEMENT EXECUTE FUNCTION ideamine_ledger_append_only()",
    ],
    "sqlite": [
        "CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger "
        "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: UPDATE refused'); END",
        "CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger "
        "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: DELETE refused'); END",
    ],
}


def upgrade() -> None:
    """Apply this revision."""

    op.create_table(
        "artifact_inputs",
        sa.Column("artifact_id", sa.String(length=300), nullable=False),
        sa.Column("input_id", sa.String(length=300), nullable=False),
        sa.Column("input_hash", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("artifact_id", "input_id", name=op.f("pk_artifact_inputs")),
    )
    op.create_table(
        "artifacts",
        sa.Column("artifact_id", sa.String(length=300), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=True),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column(
            "producer",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("path", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("run_id", "name", name=op.f("uq_artifacts_run_id_name")),
    )
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_artifacts_content_hash"), ["content_hash"], unique=False)

    op.create_table(
        "assumptions",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("claim", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assumptions")),
        sa.UniqueConstraint("run_id", "idempotency_key", name=op.f("uq_assumptions_run_id_idempotency_key")),
    )
    with op.batch_alter_table("assumptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_assumptions_run_id_phase"), ["run_id", "phase"], unique=False)

    op.create_table(
        "checkpoints",
        sa.Column("task_id", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("token", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_checkpoints")),
    )
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkpoints_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_checkpoints_run_id"), ["run_id"], unique=False)

    op.create_table(
        "circuit_breakers",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.Double(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("window_started_at", sa.Double(), nullable=True),
        sa.Column("probe_started_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_circuit_breakers")),
    )
    op.create_table(
        "supervisor_decisions",
        sa.Column("decision_id", sa.String(length=300), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=200), nullable=True),
        sa.Column("mode", sa.String(length=32), nullable=False),
        sa.Column("strategy", sa.String(length=32), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("claimed_at", sa.Double(), nullable=True),
        sa.Column("emitted_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("decision_id", name=op.f("pk_supervisor_decisions")),
    )
    with op.batch_alter_table("supervisor_decisions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_supervisor_decisions_run_id"), ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_supervisor_decisions_emitted_at"), ["emitted_at"], unique=False)

    op.create_table(
        "budget_charges",
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("charge_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=False),
        sa.Column("tool_seconds", sa.Double(), nullable=False),
        sa.Column("wall_seconds", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "phase", "charge_key", name=op.f("pk_budget_charges")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=True),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column(
            "data",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_events_event_id")),
    )
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_events_run_id_id"), ["run_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_events_ts"), ["ts"], unique=False)

    op.create_table(
        "evidence_packs",
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column(
            "pack",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "phase", "attempt", name=op.f("pk_evidence_packs")),
    )
    op.create_table(
        "heartbeats",
        sa.Column("task_id", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        sa.Column("beat_at", sa.Double(), nullable=False),
        sa.Column("interval_seconds", sa.Double(), nullable=False),
        sa.Column("progress", sa.Double(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column(
            "samples",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("lag_seconds", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_heartbeats")),
    )
    with op.batch_alter_table("heartbeats", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_heartbeats_run_id"), ["run_id"], unique=False)

    op.create_table(
        "idea_inbox",
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("idea_key", sa.String(length=120), nullable=False),
        sa.Column("content_hash", sa.String(length=80), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column(
            "submission",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_idea_inbox")),
        sa.UniqueConstraint("idea_key", name=op.f("uq_idea_inbox_idea_key")),
    )
    with op.batch_alter_table("idea_inbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_idea_inbox_content_hash"), ["content_hash"], unique=False)

    op.create_table(
        "kmap_frames",
        sa.Column("frame_id", sa.String(length=100), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column(
            "evidence",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "frame_id", name=op.f("pk_kmap_frames")),
    )

    op.create_table(
        "ledger",
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=80), nullable=False),
        sa.Column("hash", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name=op.f("pk_ledger")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_ledger_entry_id")),
        sa.UniqueConstraint("run_id", "idempotency_key", name=op.f("uq_ledger_run_id_idempotency_key")),
    )
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_run_id_type"), ["run_id", "type"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_ts"), ["ts"], unique=False)
    for statement in LEDGER_GUARDS[op.get_bind().dialect.name]:
        op.execute(statement)

    op.create_table(
        "model_calls",
        sa.Column("request_hash", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=True),
        sa.Column("agent", sa.String(length=64), nullable=True),
        sa.Column(
            "request",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "response",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Double(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("claim_owner", sa.String(length=200), nullable=True),
        sa.Column("claim_expires_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("request_hash", name=op.f("pk_model_calls")),
    )
    with op.batch_alter_table("model_calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_calls_run_id"), ["run_id"], unique=False)

    op.create_table(
        "phase_metrics",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("ts", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phase_metrics")),
        sa.UniqueConstraint("run_id", "phase", "name", name=op.f("uq_phase_metrics_run_id_phase_name")),
    )
    with op.batch_alter_table("phase_metrics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_phase_metrics_ts"), ["ts"], unique=False)

    op.create_table(
        "phases",
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("gate_score", sa.Double(), nullable=True),
        sa.Column("threshold", sa.Double(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("artifact_hash", sa.String(length=80), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "phase", name=op.f("pk_phases")),
    )
    op.create_table(
        "release_dossiers",
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("completeness", sa.Double(), nullable=False),
        sa.Column("ledger_head", sa.String(length=80), nullable=True),
        sa.Column(
            "dossier",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_release_dossiers")),
    )
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("idea", sa.Text(), nullable=False),
        sa.Column(
            "submission",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "phases",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column(
            "dagster_run_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
    )
    op.create_table(
        "tasks",
        sa.Column("task_id", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("agent", sa.String(length=64), nullable=False),
        sa.Column("iteration", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("fencing_token", sa.BigInteger(), nullable=False),
        sa.Column("lease_owner", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", sa.Double(), nullable=True),
        sa.Column("last_heartbeat_at", sa.Double(), nullable=True),
        sa.Column("progress", sa.Double(), nullable=True),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.Column("model", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "detail",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_tasks_run_id_phase"), ["run_id", "phase"], unique=False)
        batch_op.create_index(batch_op.f("ix_tasks_status"), ["status"], unique=False)

    op.create_table(
        "timers",
        sa.Column("timer_id", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("task_id", sa.String(length=200), nullable=True),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("fire_at", sa.Double(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("fired_at", sa.Double(), nullable=True),
        sa.Column("claim_owner", sa.String(length=200), nullable=True),
        sa.Column("claim_expires_at", sa.Double(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("timer_id", name=op.f("pk_timers")),
    )
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_timers_status_fire_at"), ["status", "fire_at"], unique=False)

    op.create_table(
        "waivers",
        sa.Column("waiver_id", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=100), nullable=False),
        sa.Column("phase", sa.String(length=64), nullable=False),
        sa.Column("violation", sa.String(length=200), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("waiver_id", name=op.f("pk_waivers")),
    )
    with op.batch_alter_table("waivers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_waivers_run_id_phase"), ["run_id", "phase"], unique=False)


def downgrade() -> None:
    """Revert this revision."""

    with op.batch_alter_table("waivers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_waivers_run_id_phase"))

    op.drop_table("waivers")
    with op.batch_alter_table("timers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_timers_status_fire_at"))

    op.drop_table("timers")
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tasks_status"))
        batch_op.drop_index(batch_op.f("ix_tasks_run_id_phase"))

    op.drop_table("tasks")
    op.drop_table("runs")
    op.drop_table("release_dossiers")
    op.drop_table("phases")
    with op.batch_alter_table("phase_metrics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phase_metrics_ts"))

    op.drop_table("phase_metrics")
    with op.batch_alter_table("model_calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_calls_run_id"))

    op.drop_table("model_calls")
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_ts"))
        batch_op.drop_index(batch_op.f("ix_ledger_run_id_type"))

    op.drop_table("ledger")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ideamine_ledger_append_only()")
    op.drop_table("kmap_frames")
    with op.batch_alter_table("idea_inbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idea_inbox_status"))

    op.drop_table("idea_inbox")
    with op.batch_alter_table("heartbeats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_heartbeats_run_id"))

    op.drop_table("heartbeats")
    op.drop_table("evidence_packs")
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_events_ts"))
        batch_op.drop_index(batch_op.f("ix_events_run_id_id"))

    op.drop_table("events")
    op.drop_table("budget_charges")
    with op.batch_alter_table("supervisor_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_supervisor_decisions_emitted_at"))
        batch_op.drop_index(batch_op.f("ix_supervisor_decisions_run_id"))

    op.drop_table("supervisor_decisions")
    op.drop_table("circuit_breakers")
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_checkpoints_run_id"))
        batch_op.drop_index(batch_op.f("ix_checkpoints_created_at"))

    op.drop_table("checkpoints")
    with op.batch_alter_table("assumptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_assumptions_run_id_phase"))

    op.drop_table("assumptions")
    with op.batch_alter_table("artifacts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_artifacts_content_hash"))

    op.drop_table("artifacts")
    op.drop_table("artifact_inputs")
