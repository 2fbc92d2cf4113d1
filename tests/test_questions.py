"""Every question of the sheet is quoted in its notebook, marked as a paraphrase (or as an extra), and asked in full:
T2.Q10 asks how the limits can be addressed and an answer cell answers it; the glossary defines the terms the shipped
answer sheet uses."""
import json
from pathlib import Path

import pytest

from facekit.glossary import undefined_terms
from facekit_tools.handin.answers import QUESTIONS, _quote, _sections, _source, sheet_problems

ROOT = Path(__file__).resolve().parents[1]
PARAPHRASE = "*Question (paraphrased from the assignment):*"


def question_sections():
    found = {}
    for nb in sorted((ROOT / "notebooks").glob("0*.ipynb")):
        for s in _sections(json.loads(nb.read_text(encoding="utf-8")), nb.name):
            if s.question:
                assert s.question not in found, f"{s.question} has two sections ({found[s.question][0]}, {nb.name})"
                found[s.question] = (nb.name, s)
    return found


def test_every_question_has_one_section_with_a_marked_quote():
    found = question_sections()
    assert sorted(found) == sorted(QUESTIONS)
    for q, (nb, s) in found.items():
        quote = _quote(_source(s.cells[0]))
        assert quote, f"{q} ({nb}) quotes no question"
        assert quote.startswith(PARAPHRASE) or "Extra, not one of the assignment's questions" in quote, (q, quote)


def test_t1_q3_is_marked_as_an_extra():
    nb, s = question_sections()["T1.Q3"]
    assert "extra" in s.heading.lower() and "Extra, not one" in _quote(_source(s.cells[0]))


def test_t2_q10_asks_and_answers_how_the_limits_can_be_addressed():
    nb, s = question_sections()["T2.Q10"]
    assert "how can they be addressed" in _quote(_source(s.cells[0])).lower()
    cells = json.loads((ROOT / "notebooks" / nb).read_text(encoding="utf-8"))["cells"]
    answers = [_source(c) for c in cells if c["cell_type"] == "code"
               and c.get("metadata", {}).get("facekit", {}).get("question") == "T2.Q10"]
    assert any("limits_text" in a for a in answers), "no T2.Q10 answer cell composes the how-to-address answer"


def test_a_missing_marker_is_caught():
    nb, s = question_sections()["T2.Q1"]
    assert not _quote(_source(s.cells[0]).replace(PARAPHRASE, "")).startswith(PARAPHRASE)


@pytest.mark.skipif(not (ROOT / "figures" / "answers.md").is_file(), reason="no answer sheet generated yet")
def test_the_shipped_answer_sheet_defines_every_term_it_uses():
    sheet = (ROOT / "figures" / "answers.md").read_text(encoding="utf-8")
    assert undefined_terms(sheet.split("## Glossary")[0]) == []


def test_dangling_pointers_and_missing_files_are_caught():
    assert sheet_problems("The rule is the weight table above. See `loss.png`.") == [
        "dangling reference: 'weight table above'"]
    assert sheet_problems("Figures: `07_fewshot/visualize/*/*.png (not found)`") == [
        "missing file: 07_fewshot/visualize/*/*.png"]
    assert sheet_problems("The points come from the landmarks (`au_regions_vs_pyfeat.csv`); above 0.5 is high.") == []


@pytest.mark.skipif(not (ROOT / "figures" / "answers.md").is_file(), reason="no answer sheet generated yet")
def test_the_shipped_answer_sheet_points_only_at_what_it_holds():
    assert sheet_problems((ROOT / "figures" / "answers.md").read_text(encoding="utf-8")) == []
