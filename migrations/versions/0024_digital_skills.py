"""digital skills: each villager's progress in each course (with its certificate's code), every quiz answer
(for the pass rates per question), the hamlet a learner gave (for the tutors' lists), the days whose
tip was sent to each commune's subscribers, and the one-time codes that carry progress to another channel.

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def _home() -> str:
    from core.config import Settings

    return Settings().commune_code


def _user() -> sa.Column:
    return sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    home = _home()

    def commune() -> sa.Column:
        return sa.Column("commune", sa.String(length=4), nullable=False, server_default=home)

    op.create_table(
        "skill_progress",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user(), commune(),
        sa.Column("course", sa.String(length=24), nullable=False),
        sa.Column("lesson", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("lessons_done", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("certificate", sa.String(length=16), nullable=True),
        sa.UniqueConstraint("user_id", "course", name="uq_skill_progress_user_course"),
    )
    op.create_index("ix_skill_progress_commune", "skill_progress", ["commune"])
    op.create_index("ix_skill_progress_commune_course", "skill_progress", ["commune", "course"])
    op.create_table(
        "skill_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        _user(), commune(),
        sa.Column("course", sa.String(length=24), nullable=False),
        sa.Column("lesson", sa.String(length=24), nullable=False),
        sa.Column("question", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Boolean(), nullable=False),
        sa.Column("first_try", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_skill_answers_user_id", "skill_answers", ["user_id"])
    op.create_index("ix_skill_answers_commune", "skill_answers", ["commune"])
    op.create_index("ix_skill_answers_commune_question", "skill_answers", ["commune", "course", "lesson", "question"])
    op.create_table(
        "skill_learners",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
        commune(),
        sa.Column("hamlet_id", sa.String(length=32), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_skill_learners_commune", "skill_learners", ["commune"])
    op.create_index("ix_skill_learners_hamlet_id", "skill_learners", ["hamlet_id"])
    op.create_table(
        "skill_carry_codes",
        sa.Column("digest", sa.String(length=64), primary_key=True),
        _user(), commune(),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_skill_carry_codes_user_id", "skill_carry_codes", ["user_id"])
    op.create_index("ix_skill_carry_codes_commune", "skill_carry_codes", ["commune"])
    op.create_table(
        "skill_tip_days",
        sa.Column("commune", sa.String(length=4), primary_key=True),
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("skill_tip_days")
    op.drop_table("skill_carry_codes")
    op.drop_table("skill_learners")
    op.drop_table("skill_answers")
    op.drop_table("skill_progress")
