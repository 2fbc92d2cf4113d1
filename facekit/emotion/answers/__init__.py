"""The answer prose of Task 1, in one place: each function takes the run's numbers and returns the sentence a notebook
prints; the qualitative part is chosen by a small rule over those numbers (``tests/test_answers.py`` and
``tests/test_answers_task1.py`` feed contrary numbers and check the text flips), so a rerun cannot leave a stale
conclusion behind. The compute modules (``emotion.imbalance``, ``explain.cases``) return numbers only.

One module per notebook: :mod:`.training` (02, Q1.1-Q1.3), :mod:`.gradcam` (03, Q1.4-Q1.5), :mod:`.imbalance`
(04, Q1.6-Q1.7); every name is re-exported here, so ``from facekit.emotion import answers`` then ``answers.fit_text``.
"""
from facekit.emotion.answers.gradcam import (CONCENTRATED, MOSTLY, case_names, context_text, crop_choice_text, failure_answer_text,
                                             folder_label, labelled_faces_text, map_reason_text, model_label,
                                             region_shares_text, scored_cases, stress_label, test_answer_text)
from facekit.emotion.answers.imbalance import (METHOD_REASONS, RARE_SHARE, RECALL_STEP, before_after_text,
                                               explainer_note, fix_kind, fix_verdict, label_noise_text,
                                               method_answer_text, q15_link_text, rare_classes, recall_shift_text,
                                               spread_verdict, test2_reason_text)
from facekit.emotion.answers.training import (GAP, MAX_SPREAD, SINK_CLASSES, SINK_SHARE, WINDOW, Convergence,
                                              architecture_answer_text, training_answer_text,
                                              bn_momentum_text, confusion_answer_text, convergence, convergence_text,
                                              data_text, fit_text, neutral_sink_text, noise_band, with_context)

__all__ = [
    "CONCENTRATED", "Convergence", "GAP", "MAX_SPREAD", "METHOD_REASONS", "MOSTLY", "RARE_SHARE", "RECALL_STEP",
    "SINK_CLASSES", "SINK_SHARE", "WINDOW", "architecture_answer_text", "before_after_text", "bn_momentum_text",
    "case_names", "confusion_answer_text", "context_text", "convergence", "convergence_text", "crop_choice_text",
    "data_text", "explainer_note", "failure_answer_text", "fit_text", "fix_kind", "fix_verdict", "folder_label",
    "label_noise_text", "labelled_faces_text", "map_reason_text", "method_answer_text", "model_label",
    "neutral_sink_text", "noise_band", "q15_link_text", "rare_classes", "recall_shift_text", "region_shares_text",
    "scored_cases", "spread_verdict", "stress_label", "test2_reason_text", "test_answer_text", "training_answer_text",
    "with_context",
]
