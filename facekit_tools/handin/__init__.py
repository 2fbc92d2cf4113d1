"""The hand-in kit: report-ready figures and tables, the answer sheet, and ``supplementary.zip``."""
from facekit_tools.handin.answers import QUESTIONS, collect_answers, write_answer_sheet
from facekit_tools.handin.report import pdf_bytes, table_to_latex
from facekit_tools.handin.supplementary import SupplementaryRefused, build_supplementary, check_run, shipped_files

__all__ = ["QUESTIONS", "SupplementaryRefused", "build_supplementary", "check_run", "collect_answers", "pdf_bytes",
           "shipped_files", "table_to_latex", "write_answer_sheet"]
