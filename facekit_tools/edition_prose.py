"""The instructor's answer prose, kept out of the student edition: the functions that write **Answer.** sentences are
stubbed in the student tree (signature kept, body a ``NotImplementedError``), the answer docstrings replaced, and in
the notebooks every statement that calls one of them (or uses what such a call produced) is dropped, as are prose
literals in the measurement cells. The measurements (numbers, tables) stay.

:data:`PROSE` lists, per module, the functions that write answer sentences (the house rule: one home for answer
prose per task, compute modules return numbers); ``tests/test_student_edition.py`` checks that no 9-word sequence of
an **Answer.** paragraph of ``figures/answers.md`` is left in the student tree.
"""
from __future__ import annotations

import ast
import json
import re

from nbconvert.preprocessors import Preprocessor

#: Module (relative to the repository root) -> the functions that write answer prose (and the UPPER_CASE constants
#: that hold their sentences: emptied).
PROSE: dict[str, tuple[str, ...]] = {
    "facekit/answer_rules.py": ("versus_control_text", "spread_change_text", "source_domain_text", "SOURCE_WORDS"),
    "facekit/emotion/answers/training.py": ("convergence_text", "fit_text", "bn_momentum_text", "data_text",
                                            "neutral_sink_text", "confusion_answer_text", "architecture_answer_text",
                                            "training_answer_text"),
    "facekit/emotion/answers/gradcam.py": ("map_reason_text", "labelled_faces_text", "test_answer_text",
                                           "failure_answer_text", "_real_photos_text", "crop_choice_text"),
    "facekit/emotion/answers/imbalance.py": ("explainer_note", "METHOD_REASONS", "q15_link_text", "method_answer_text",
                                             "fix_verdict", "spread_verdict", "recall_shift_text", "label_noise_text",
                                             "test2_reason_text", "before_after_text"),
    "facekit/explain/sanity.py": ("randomisation_text",),
    "facekit/fau/answers/pretrained.py": ("bottleneck_text", "gives_up_text", "head_text", "per_au_error_text",
                                          "q23_text", "predicted_vs_true_text", "domain_text"),
    "facekit/fau/answers/au_emotion.py": ("q5_verdict", "describe_wild_gap", "five_au_text", "q25_text"),
    "facekit/fau/answers/fewshot.py": ("loss_trend_text", "change_text", "verdicts_text", "source_text",
                                       "large_rate_text", "tuning_comparison_text", "tuning_answer_text",
                                       "small_rate_text", "metric_agreement_text", "checkpoint_difference_text",
                                       "q26_text", "q27_text"),
    "facekit/fau/answers/attention.py": ("reconcile_text", "budget_text", "largest_drop_text",
                                         "attention_spread_text", "limits_text", "run_shows_text", "q211_text"),
}
#: Modules (or ``module::function``) whose docstring is the substance of an answer -> the docstring the student
#: edition gets instead.
DOCSTRINGS: dict[str, str] = {
    "facekit/fau/attention.py": "Patch attention for the FAU heatmap model (Task 2 Q8-Q9): PatchAttention and its "
                                "helpers. Why it helps, and when, is for your answer.",
    "facekit/fau/robustness.py::wild_gap": "ICC of each model on lab, wild and wild-with-one-trait-from-lab faces "
                                           "(and lab faces through the training augmentation), one row per "
                                           "(condition, model).",
}
#: A string literal with at least this many words in a notebook code cell is prose, not a measurement.
PROSE_WORDS = 9
NAMES = frozenset(name for names in PROSE.values() for name in names if not name.isupper())
#: Every module the student edition changes here (the round trip copies them back).
MODULES = tuple(sorted(set(PROSE) | {key.split("::")[0] for key in DOCSTRINGS}))


def stub_message(name: str) -> str:
    return (f"{name}: the instructor's answer text is not part of the student edition; write the answer yourself "
            "from the numbers the notebook measures")


def strip_prose(text: str, path: str) -> str:
    """``text`` of module ``path`` with its prose functions stubbed and its answer docstring replaced."""
    names, lines = PROSE.get(path, ()), text.split("\n")
    tree = ast.parse(text)
    edits = []                                             # (first line index, last line index, replacement lines)
    for node in tree.body:                                 # prose constants: emptied
        target = node.target if isinstance(node, ast.AnnAssign) else (
            node.targets[0] if isinstance(node, ast.Assign) else None)
        if isinstance(target, ast.Name) and target.id in names and node.value is not None:
            head = lines[node.lineno - 1][:node.value.col_offset]
            edits.append((node.lineno - 1, node.end_lineno - 1, [head + "{}  # answer text: not in the student edition"]))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in names:
            first = node.body[0]
            indent = " " * first.col_offset
            doc = [f'{indent}"""Answer text: left to you in the student edition."""']
            edits.append((first.lineno - 1, node.end_lineno - 1,
                          doc + [f"{indent}raise NotImplementedError({json.dumps(stub_message(node.name))})"]))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and f"{path}::{node.name}" in DOCSTRINGS \
                and ast.get_docstring(node) is not None:
            doc = node.body[0]
            edits.append((doc.lineno - 1, doc.end_lineno - 1,
                          [f'{" " * doc.col_offset}"""{DOCSTRINGS[f"{path}::{node.name}"]}"""']))
    if path in DOCSTRINGS and ast.get_docstring(tree) is not None:
        node = tree.body[0]
        edits.append((node.lineno - 1, node.end_lineno - 1, [f'"""{DOCSTRINGS[path]}"""']))
    for first, last, new in sorted(edits, reverse=True):
        lines[first:last + 1] = new
    return "\n".join(lines)


def _prose_literal(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and len(sub.value.split()) >= PROSE_WORDS:
            return True
    return False


def _uses(node: ast.AST, names: set[str]) -> bool:
    return any((isinstance(sub, ast.Name) and sub.id in names) or (isinstance(sub, ast.Attribute) and sub.attr in
               names) for sub in ast.walk(node))


def drop_prose(source: str, tainted: set[str], literals: bool) -> str:
    """``source`` without the top-level statements that call a prose function or use a name in ``tainted`` (names
    assigned from prose; updated in place), nor, with ``literals``, assignments of prose literals."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines, drop = source.split("\n"), set()
    for node in tree.body:
        prose = _uses(node, NAMES | tainted) or (literals and isinstance(node, ast.Assign) and _prose_literal(node))
        if prose:
            drop.update(range(node.lineno - 1, node.end_lineno))
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                tainted.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    if not drop:
        return source
    kept = [ln for i, ln in enumerate(lines) if i not in drop]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n")


class DropProse(Preprocessor):
    """Every code cell: statements that call a prose function (or use its result) are dropped; answer cells (the
    measurements a written answer can use) also lose their prose literals."""

    def preprocess(self, nb, resources):
        tainted: set[str] = set()
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.source = drop_prose(cell.source, tainted, "answer" in cell.metadata.get("tags", []))
        return nb, resources
