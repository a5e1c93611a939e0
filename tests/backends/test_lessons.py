"""The digital-skills courses of data/lessons/: the shipped ones are complete, and a file with a broken
reference or a quiz without its right answer is refused at load, naming the file and the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.skills.lessons import MAX_ANSWERS, MAX_STEPS, MIN_STEPS, LessonError, load_courses
from core.config import REPO_ROOT

GOOD = """\
id: demo
title: {vi: "Thử", en: "Try"}
summary: {vi: "Một khóa thử", en: "A trial course"}
lessons:
  - id: one
    title: {vi: "Bài một", en: "Lesson one"}
    steps:
      - text: {vi: "Bước một", en: "Step one"}
      - text: {vi: "Bước hai", en: "Step two"}
        picture: PICTURE
      - text: {vi: "Bước ba", en: "Step three"}
    quiz:
      - question: {vi: "Câu hỏi?", en: "Question?"}
        answers:
          - text: {vi: "Đúng", en: "Right"}
            correct: true
            explain: {vi: "Vì thế", en: "Because"}
          - text: {vi: "Sai", en: "Wrong"}
            explain: {vi: "Không phải", en: "No"}
"""


def write(folder: Path, text: str, picture: str = "a.png", name: str = "demo.yml") -> Path:
    (folder / "img").mkdir(exist_ok=True)
    (folder / "img" / "a.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    path = folder / name
    path.write_text(text.replace("PICTURE", picture), encoding="utf-8")
    return path


def test_the_shipped_courses_are_complete() -> None:
    courses = load_courses(REPO_ROOT / "data" / "lessons")
    assert {c.id for c in courses} >= {"assistant", "public_services", "vietqr", "scams"}
    for course in courses:
        assert len(course.lessons) >= 3, course.id
        for lesson in course.lessons:
            assert MIN_STEPS <= len(lesson.steps) <= MAX_STEPS
            assert all(len(step.text[lang]) <= 300 for step in lesson.steps for lang in ("vi", "en"))
            assert all(sum(a.correct for a in q.answers) == 1 and len(q.answers) <= MAX_ANSWERS
                       for q in lesson.quiz)
    assert courses.offered_for("scam_link") is courses.get("scams")
    assert all(path.is_file() for path in courses.picture_files().values())


def test_a_good_file_loads(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    [course] = load_courses(tmp_path)
    assert course.lessons[0].steps[1].picture == "a.png" and course.lessons[0].quiz[0].right == 0


@pytest.mark.parametrize(("change", "line", "message"), [
    (("PICTURE", "missing.png"), 10, "picture 'missing.png' is not in"),
    (("PICTURE", "../secret.png"), 10, "a file name in data/lessons/img/"),
    (("            correct: true\n", ""), 14, "exactly one right answer"),
    (("            explain: {vi: \"Không phải\", en: \"No\"}\n",
      "            correct: true\n            explain: {vi: \"Không phải\", en: \"No\"}\n"), 14,
     "exactly one right answer (correct: true), not 2"),
    (("Bước hai", "x" * 301), 9, "at most 300"),
    (("en: \"Step three\"", "fr: \"Trois\""), 11, "text has no en text"),
    (("      - text: {vi: \"Bước ba\", en: \"Step three\"}\n", ""), 7, "3 to 6 steps"),
    (("id: one", "id: One Two"), 5, "short lower-case name"),
    (("            explain: {vi: \"Vì thế\", en: \"Because\"}\n", ""), 15, "explain needs a text"),
    (("lessons:", "lessons: [\n"), 6, "not valid YAML"),
])
def test_a_broken_file_is_refused_naming_file_and_line(tmp_path: Path, change: tuple[str, str], line: int,
                                                       message: str) -> None:
    path = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(LessonError) as refused:
        load_courses(tmp_path)
    text = str(refused.value)
    assert text.startswith(f"{path}:"), text
    assert message in text, text
    assert int(text.split(":")[1]) == line, text  # the line of the mapping that holds the mistake


def test_two_files_with_one_course_id_are_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, GOOD, name="again.yml")
    with pytest.raises(LessonError, match="already used"):
        load_courses(tmp_path)
