"""``facekit answers`` (the answer sheet) and ``facekit supplementary`` (the sheet, then supplementary.zip)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from facekit import paths
from facekit_tools.handin.answers import QUESTIONS
from facekit_tools.handin.answers import sheet_problems
from facekit_tools.handin.answers import write_answer_sheet
from facekit_tools.handin.results import results_table
from facekit_tools.handin.results import write_results
from facekit_tools.handin.supplementary import SupplementaryRefused
from facekit_tools.handin.supplementary import build_supplementary
from facekit_tools.handin.supplementary import check_run


def _cmd_answers(args: argparse.Namespace) -> int:

    try:
        md, tex, answers = write_answer_sheet(args.executed, args.figures)
    except (FileNotFoundError, ValueError) as exc:  # ValueError: ExecutedNotebookError, a cut-off notebook
        print(f"facekit answers: {exc}", file=sys.stderr)
        return 1
    missing = [a.question for a in answers[:len(QUESTIONS)] if not a.answered]
    sheet = md.read_text(encoding="utf-8")
    print(f"facekit answers: {md} ({len(sheet.splitlines())} lines) and {tex}; "
          f"{len(QUESTIONS) - len(missing)} of {len(QUESTIONS)} questions answered"
          + (f"; no computed answer for {', '.join(missing)}" if missing else ""))
    for problem in sheet_problems(sheet):
        print(f"facekit answers: {md.name}: {problem}", file=sys.stderr)
    return 0


def _cmd_supplementary(args: argparse.Namespace) -> int:

    try:
        root = args.root or _root()
        check_run(root, args.executed)  # refuse before writing the sheet into figures/
        args.figures = str(Path(root) / "figures")
        args.executed = args.executed or str(Path(root) / "build" / "notebooks")
        if _cmd_answers(args):
            return 1
        result = build_supplementary(args.out, args.root, args.executed, html=not args.no_html)
    except SupplementaryRefused as exc:
        print(f"facekit supplementary: {exc}", file=sys.stderr)
        return 1
    print(f"facekit supplementary: {result.path} - {result.size / 2**20:.1f} MiB, {result.files} files")
    return 0


def _cmd_results_table(args: argparse.Namespace) -> int:

    figures = args.figures or str(_root() / "figures")
    try:
        if args.write:
            print(f"facekit results-table: results table of {args.write} rewritten from {figures}/*/metrics.json "
                  f"({write_results(args.write, figures)})")
        else:
            print(results_table(figures))
    except (FileNotFoundError, ValueError) as exc:
        print(f"facekit results-table: {exc}", file=sys.stderr)
        return 1
    return 0


def _root():

    return paths.repo_root()


def add_command(sub) -> None:
    answers = sub.add_parser("answers", help="write figures/answers.md and .tex from the executed notebooks")
    answers.add_argument("--executed", metavar="DIR", help="executed notebooks (default: build/notebooks/)")
    answers.add_argument("--figures", metavar="DIR", help="figures root, also where the sheet goes (default: figures/)")
    answers.set_defaults(func=_cmd_answers)

    supp = sub.add_parser("supplementary", help="the answer sheet, then supplementary.zip (code, executed notebooks, "
                                                 "figures, README) from the last full run")
    supp.add_argument("--out", metavar="PATH", default="build/supplementary.zip",
                      help="where to write the zip (default: build/supplementary.zip)")
    supp.add_argument("--executed", metavar="DIR", help="executed notebooks (default: build/notebooks/)")
    supp.add_argument("--root", metavar="DIR", help=argparse.SUPPRESS)
    supp.add_argument("--no-html", action="store_true", help="skip the HTML rendering of each notebook")
    supp.set_defaults(func=_cmd_supplementary, figures=None)

    res = sub.add_parser("results-table", help="the README's results table from figures/*/metrics.json "
                                               "(--write README.md replaces it between its markers)")
    res.add_argument("--figures", metavar="DIR", help="figures root (default: figures/)")
    res.add_argument("--write", metavar="README", help="rewrite the table between the results markers of this file")
    res.set_defaults(func=_cmd_results_table)
