"""``facekit grade SUBMISSIONS_DIR``: the code parts of every submission, checked with the submission's *own* facekit
modules, one CSV row per student: each question's check result, its points, the total, the first failure.

A submission is a folder per student (nbgrader's ``submitted/<student>/<assignment>/`` or ``<student>/`` holding
``facekit/``). Each is checked in a fresh Python process whose working directory and ``PYTHONPATH`` are the
submission, so its ``facekit`` (the student's modules) is the one imported, never the grader's installed copy.
:data:`POINTS` is the one table of code points; the nbgrader course gives its graded cells the same points.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

#: Code points per checked question: (check key of facekit.checks.CHECKS, the question as the assignment names it).
POINTS: dict[str, tuple[int, str]] = {"T1.Q1": (4, "Task 1 Q1"), "T1.Q2": (2, "Task 1 Q2"), "T1.Q6": (2, "Task 1 Q6"),
                                      "T2.Q1": (4, "Task 2 Q1-Q2"), "T2.Q6": (2, "Task 2 Q6")}
TIMEOUT_S = 900


def submission_root(folder: Path) -> Path | None:
    """The folder of ``folder`` (a student's) that holds the submitted ``facekit`` package, or None."""
    for candidate in (folder, *sorted(p for p in folder.iterdir() if p.is_dir())):
        if (candidate / "facekit" / "__init__.py").is_file():
            return candidate
    return None


def check_submission(root: Path, python: str = sys.executable) -> dict[str, dict]:
    """``{question: {"passed": bool, "failures": [...]}}`` from ``python -m facekit.checks --json`` run inside
    ``root`` (its own facekit); every question failed with the reason when the process itself fails."""
    env = dict(os.environ, PYTHONPATH=str(root), FACEKIT_ROOT=str(root), MPLBACKEND="Agg")
    try:
        proc = subprocess.run([python, "-m", "facekit.checks", "--json"], cwd=root, env=env, capture_output=True,
                              text=True, timeout=TIMEOUT_S)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        return json.loads(lines[-1]) if lines else _all_failed(f"the checks did not run: {proc.stderr[-300:]}")
    except (subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        return _all_failed(f"the checks did not finish: {type(exc).__name__}")


def _all_failed(reason: str) -> dict[str, dict]:
    return {q: {"passed": False, "failures": [reason]} for q in POINTS}


def grade_submissions(submissions: str | Path, out: str | Path) -> list[dict]:
    """Check every student folder of ``submissions``; write ``out`` (CSV) and return its rows."""
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"{submissions} is not a folder of submissions (one folder per student)")
    rows = []
    for folder in sorted(p for p in submissions.iterdir() if p.is_dir()):
        root = submission_root(folder)
        results = check_submission(root) if root else _all_failed("no facekit/ package in the submission")
        row = {"student": folder.name}
        failures = []
        for key, (points, question) in POINTS.items():
            res = results.get(key, {"passed": False, "failures": ["not checked"]})
            row[f"{key}_passed"] = bool(res["passed"])
            row[f"{key}_points"] = points if res["passed"] else 0
            failures += [] if res["passed"] else [f"{question}: {(res['failures'] or ['?'])[0]}"]
        row["code_points"] = sum(row[f"{k}_points"] for k in POINTS)
        row["code_max"] = sum(p for p, _ in POINTS.values())
        row["failures"] = " | ".join(failures)
        rows.append(row)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["student"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


def _cmd_grade(args) -> int:
    try:
        rows = grade_submissions(args.submissions, args.out)
    except FileNotFoundError as exc:
        print(f"facekit grade: {exc}", file=sys.stderr)
        return 2
    for row in rows:
        print(f"{row['student']}: {row['code_points']} of {row['code_max']} code points")
    print(f"facekit grade: {len(rows)} submission(s), {args.out}")
    return 0


def add_command(subparsers) -> None:
    """``facekit grade SUBMISSIONS_DIR [--out CSV]``."""
    cmd = subparsers.add_parser("grade", help="check the code parts of every submission (one CSV row per student)")
    cmd.add_argument("submissions", metavar="SUBMISSIONS_DIR", help="one folder per student (e.g. nbgrader's "
                                                                    "submitted/)")
    cmd.add_argument("--out", default="build/grades.csv", help="the CSV to write (default: build/grades.csv)")
    cmd.set_defaults(func=_cmd_grade)
