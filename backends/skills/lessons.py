"""The digital-skills courses of data/lessons/*.yml, read and checked once at start.

A course is a few lessons; a lesson is 3–6 short steps (text ≤ 300 characters in Vietnamese and
English, an optional picture from data/lessons/img/), ending with 1–3 quiz questions whose answers are
buttons, exactly one of them right, each with an explanation. A file that breaks any of this is refused
at load with its name and line (`LessonError`), so a reviewer's slip never reaches a villager.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.i18n import local
from core.located_yaml import DataFileError, DataReader

MIN_STEPS, MAX_STEPS = 3, 6
MAX_STEP_CHARS = 300
MIN_QUESTIONS, MAX_QUESTIONS = 1, 3
# Zalo's OA shows five buttons a message: three answers, «⏸ Dừng» and «🔊 Nghe» fit in one.
MIN_ANSWERS, MAX_ANSWERS = 2, 3
MAX_QUESTION_CHARS = 300
MAX_ANSWER_CHARS = 60
MAX_EXPLAIN_CHARS = 300
PICTURE_TYPES = (".png", ".jpg", ".jpeg")


class LessonError(DataFileError):
    """A lesson file that cannot be used: the message starts with `file:line:`."""


@dataclass(frozen=True, slots=True)
class Answer:
    text: Mapping[str, str]
    correct: bool
    explain: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Question:
    text: Mapping[str, str]
    answers: tuple[Answer, ...]

    @property
    def right(self) -> int:
        return next(n for n, answer in enumerate(self.answers) if answer.correct)


@dataclass(frozen=True, slots=True)
class Step:
    text: Mapping[str, str]
    picture: str | None = None


@dataclass(frozen=True, slots=True)
class Lesson:
    id: str
    title: Mapping[str, str]
    steps: tuple[Step, ...]
    quiz: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class Course:
    id: str
    position: int
    title: Mapping[str, str]
    summary: Mapping[str, str]
    lessons: tuple[Lesson, ...]
    # Why a villager is offered it out of the blue: "scam_link" (they sent a blocked link).
    offered_for: tuple[str, ...] = ()

    def name(self, lang: str) -> str:
        return local(dict(self.title), lang)

    def lesson(self, lesson_id: str) -> Lesson | None:
        return next((lesson for lesson in self.lessons if lesson.id == lesson_id), None)

    def index(self, lesson_id: str) -> int | None:
        return next((n for n, lesson in enumerate(self.lessons) if lesson.id == lesson_id), None)


class Courses:
    """Every course, in the order of their `position`."""

    def __init__(self, courses: Iterator[Course] | list[Course], pictures: Path | None = None) -> None:
        self._courses = {course.id: course for course in sorted(courses, key=lambda c: (c.position, c.id))}
        self.pictures = pictures  # the folder the steps' pictures are in

    def __iter__(self) -> Iterator[Course]:
        return iter(self._courses.values())

    def __len__(self) -> int:
        return len(self._courses)

    def get(self, course_id: str) -> Course | None:
        return self._courses.get(course_id)

    def offered_for(self, reason: str) -> Course | None:
        return next((course for course in self if reason in course.offered_for), None)

    def tip_for(self, day: dt.date) -> tuple[Course, Lesson, Step] | None:
        """The day's tip: each step of every lesson in turn, one a day, the order the same everywhere."""
        steps = [(course, lesson, step)
                 for course in self for lesson in course.lessons for step in lesson.steps]
        return steps[day.toordinal() % len(steps)] if steps else None

    def picture_files(self) -> dict[str, Path]:
        """The pictures the steps name, by file name."""
        if self.pictures is None:
            return {}
        return {step.picture: self.pictures / step.picture for course in self for lesson in course.lessons
                for step in lesson.steps if step.picture}


def load_courses(folder: Path) -> Courses:
    """The courses of `folder`/*.yml (none if the folder does not exist); raises `LessonError`."""
    pictures = folder / "img"
    courses: list[Course] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yml")) if folder.is_dir() else ():
        course = _Reader(path, pictures).course()
        if course.id in seen:
            raise LessonError(f"{path}:1: course id {course.id!r} is already used by {seen[course.id]}")
        seen[course.id] = path
        courses.append(course)
    return Courses(courses, pictures)


class _Reader(DataReader):
    error = LessonError

    def __init__(self, path: Path, pictures: Path) -> None:
        super().__init__(path)
        self.pictures = pictures

    def course(self) -> Course:
        raw = self.load("a course is a mapping (id, title, summary, lessons)")
        course_id = self.identifier(raw, "id")
        lessons = raw.get("lessons")
        if not isinstance(lessons, list) or not lessons:
            raise self.fail(raw, "a course needs a list of lessons", "lessons")
        read = [self.lesson(item) for item in lessons]
        ids = [lesson.id for lesson in read]
        for n, lesson_id in enumerate(ids):
            if lesson_id in ids[:n]:
                raise self.fail(lessons[n], f"lesson id {lesson_id!r} is used twice in this course")
        position = raw.get("position", 100)
        if not isinstance(position, int):
            raise self.fail(raw, "position is a whole number", "position")
        offered = raw.get("offered_for", [])
        if not isinstance(offered, list) or not all(isinstance(item, str) for item in offered):
            raise self.fail(raw, "offered_for is a list of reasons", "offered_for")
        return Course(course_id, position, self.texts(raw, "title", 80), self.texts(raw, "summary", 300),
                      tuple(read), tuple(offered))

    def lesson(self, raw: Any) -> Lesson:
        raw = self.mapping(raw, "a lesson is a mapping (id, title, steps, quiz)")
        steps, quiz = raw.get("steps"), raw.get("quiz")
        if not isinstance(steps, list) or not MIN_STEPS <= len(steps) <= MAX_STEPS:
            raise self.fail(raw, f"a lesson has {MIN_STEPS} to {MAX_STEPS} steps", "steps")
        if not isinstance(quiz, list) or not MIN_QUESTIONS <= len(quiz) <= MAX_QUESTIONS:
            raise self.fail(raw, f"a lesson ends with {MIN_QUESTIONS} to {MAX_QUESTIONS} quiz questions",
                            "quiz")
        return Lesson(self.identifier(raw, "id"), self.texts(raw, "title", 80),
                      tuple(self.step(item) for item in steps), tuple(self.question(item) for item in quiz))

    def step(self, raw: Any) -> Step:
        raw = self.mapping(raw, "a step is a mapping (text, picture)")
        picture = raw.get("picture")
        if picture is not None:
            if (not isinstance(picture, str) or Path(picture).name != picture
                    or Path(picture).suffix.lower() not in PICTURE_TYPES):
                raise self.fail(raw, f"picture {picture!r}: a file name in data/lessons/img/ (PNG or JPEG)",
                                "picture")
            if not (self.pictures / picture).is_file():
                raise self.fail(raw, f"picture {picture!r} is not in {self.pictures}", "picture")
        return Step(self.texts(raw, "text", MAX_STEP_CHARS), picture)

    def question(self, raw: Any) -> Question:
        raw = self.mapping(raw, "a quiz question is a mapping (question, answers)")
        answers = raw.get("answers")
        if not isinstance(answers, list) or not MIN_ANSWERS <= len(answers) <= MAX_ANSWERS:
            raise self.fail(raw, f"a quiz question has {MIN_ANSWERS} to {MAX_ANSWERS} answers",
                            "answers")
        read = [self.answer(item) for item in answers]
        right = sum(answer.correct for answer in read)
        if right != 1:
            raise self.fail(raw, f"a quiz question has exactly one right answer (correct: true), not {right}",
                            "answers")
        labels = [answer.text["vi"].casefold() for answer in read]
        if len(set(labels)) != len(labels):
            raise self.fail(raw, "two answers of this question read the same", "answers")
        return Question(self.texts(raw, "question", MAX_QUESTION_CHARS), tuple(read))

    def answer(self, raw: Any) -> Answer:
        raw = self.mapping(raw, "an answer is a mapping (text, correct, explain)")
        correct = raw.get("correct", False)
        if not isinstance(correct, bool):
            raise self.fail(raw, "correct is true or false", "correct")
        return Answer(self.texts(raw, "text", MAX_ANSWER_CHARS), correct,
                      self.texts(raw, "explain", MAX_EXPLAIN_CHARS))
