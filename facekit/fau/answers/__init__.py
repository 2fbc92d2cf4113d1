"""The answer prose of Task 2 (notebooks 05-08): every **Answer.** sentence the FAU notebooks display is written here,
chosen by small rules over the numbers the compute modules return (``fewshot``, ``ablation``, ``au_emotion``,
``robustness`` return numbers, never sentences). Each rule is tested with contrary numbers in
``tests/test_answers_task2.py``; the student edition stubs these functions (``facekit_tools/edition_prose.py``).

Also here: :func:`provenance_row`, one row of a notebook's ``provenance.csv`` (which checkpoint, trained how, on which
face set, how many faces), the table the answer sheet collects.

One module per notebook: :mod:`.pretrained` (05), :mod:`.au_emotion` (06), :mod:`.fewshot` (07), :mod:`.attention` (08);
every name is re-exported here, so ``from facekit.fau import answers as fa`` then ``fa.budget_text``.
"""
from facekit.fau.answers.pretrained import (ABSENT, PROVENANCE_COLUMNS, ROUNDTRIP_TOLERANCE, bottleneck_text,
                                            domain_text, gives_up_text, head_text, per_au_error_text,
                                            predicted_vs_true_text, provenance_row, q23_text, trained_text)
from facekit.fau.answers.au_emotion import (describe_wild_gap, emotions_without, five_au_text, q25_text, q5_verdict)
from facekit.fau.answers.fewshot import (LOSS_FALL, change_text, checkpoint_difference_text, large_rate_text,
                                         loss_trend_text, metric_agreement_text, q26_text, q27_text, small_rate_text,
                                         source_text, tuning_answer_text, tuning_comparison_text,
                                         verdicts_text)
from facekit.fau.answers.attention import (ICC_DROP, ICC_DROP_GENERATED, UNIFORM_SPREAD, attention_spread_text,
                                           au_drops, budget_text,
                                           largest_drop_text, limits_text, q211_text, reconcile_text, run_shows_text)

__all__ = [
    'ABSENT', 'ICC_DROP', 'ICC_DROP_GENERATED', 'LOSS_FALL', 'PROVENANCE_COLUMNS', 'ROUNDTRIP_TOLERANCE',
    'UNIFORM_SPREAD', 'attention_spread_text', 'au_drops', 'bottleneck_text', 'budget_text', 'change_text',
    'checkpoint_difference_text', 'describe_wild_gap', 'domain_text', 'emotions_without', 'five_au_text',
    'gives_up_text', 'head_text', 'large_rate_text', 'largest_drop_text', 'limits_text', 'loss_trend_text',
    'metric_agreement_text', 'per_au_error_text', 'predicted_vs_true_text', 'provenance_row', 'q211_text',
    'q23_text', 'q25_text', 'q26_text', 'q27_text', 'q5_verdict', 'reconcile_text', 'run_shows_text',
    'small_rate_text', 'source_text', 'trained_text', 'tuning_answer_text', 'tuning_comparison_text', 'verdicts_text',
]
