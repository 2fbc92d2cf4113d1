"""Checks that teach: one call per assignment question, run in the notebook right after the student's part.

Each check prints what passed and, on a failure, what differs (a shape, a parameter count, the first layer whose
outputs differ from the trained model's, a gradient that accumulates) in the assignment's terms, without showing the
solution, and returns a :class:`CheckResult`. A check never crashes on a student's object: whatever it raises or
returns becomes a FAIL line.

* :func:`check_xception` (Task 1 Q1, :mod:`.xception`): parameter count, BatchNorm settings, the ReLU / pooling
  modules, the per-layer output shapes of Figure 1, the shipped emotion checkpoint loading *strictly* and reproducing
  its stored outputs on ``data/test``;
* :func:`check_curves` (Task 1 Q2, :mod:`.curves`): ``plot_loss`` / ``plot_acc`` give one line per split, labelled by
  split, labelled axes, one point per epoch, a chance line;
* :func:`check_class_weights` (Task 1 Q6, :mod:`.imbalance`): the re-weighting remedy's weights ``N / (K n_c)``;
* :func:`check_fau_model` (Task 2 Q1-Q2, :mod:`.fau`): ``Bottleneck`` shapes and momentum, the deconvolution head's
  momentum and sizes, the shipped FAU checkpoint loading strictly and reproducing its stored ``test`` intensities;
* :func:`check_train_step` (Task 2 Q6, :mod:`.train_step`): the step uses ``loss_fn`` and ``points``, trains, returns
  the loss before the step, steps once, and its gradients do not accumulate.

The reference outputs live in ``facekit/checks_fingerprints.json`` (statistics of every layer's output on the test
faces, with the checkpoint's SHA-256), never recomputed from solution code at check time; the instructor refreshes
them with ``facekit refresh-fingerprints`` after retraining a shipped checkpoint.

:func:`grade` is what the locked autograder cells of the nbgrader course call: the check, then an ``AssertionError``
naming the first failure.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys

from facekit.checks.core import (FINGERPRINTS, REFRESH, CheckFailed, CheckResult, first_difference, layer_trace,
                                 load_fingerprints, weightless)
from facekit.checks.curves import check_curves
from facekit.checks.fau import check_fau_model
from facekit.checks.imbalance import check_class_weights
from facekit.checks.reference import compute_fingerprints
from facekit.checks.train_step import check_train_step
from facekit.checks.xception import XCEPTION_BN, XCEPTION_PARAMETERS, check_xception

__all__ = ["CHECKS", "CheckFailed", "CheckResult", "check_all", "check_class_weights", "check_curves", "check_fau_model", "check_train_step",
           "check_xception", "compute_fingerprints", "grade", "load_fingerprints", "FINGERPRINTS", "REFRESH",
           "XCEPTION_BN", "XCEPTION_PARAMETERS", "first_difference", "layer_trace", "weightless"]

#: One check per question.
CHECKS = {"T1.Q1": check_xception, "T1.Q2": check_curves, "T1.Q6": check_class_weights, "T2.Q1": check_fau_model,
          "T2.Q2": check_fau_model, "T2.Q6": check_train_step}


def check_all(verbose: bool = True) -> dict[str, CheckResult]:
    out = {}
    for question, func in CHECKS.items():
        if func not in [CHECKS[q] for q in out]:
            out[question] = func(verbose=verbose)
    return out


def grade(question: str, verbose: bool = True) -> CheckResult:
    """Run the check of ``question`` ("T1.Q1", ...) and raise :class:`CheckFailed` (an AssertionError) on a failure,
    so a graded cell that calls it earns its points only when the check passes."""
    if question not in CHECKS:
        raise KeyError(f"no check for {question!r}; the checked questions are {', '.join(CHECKS)}")
    return CHECKS[question](verbose=verbose).raise_if_failed()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m facekit.checks", description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line {question: {passed, failures}} "
                                                             "(facekit grade reads it) instead of the report")
    args = parser.parse_args(argv)
    if not args.json:
        return 0 if all(r.passed for r in check_all().values()) else 1
    with contextlib.redirect_stdout(io.StringIO()):       # what the student's code prints stays out of the JSON
        results = {q: CHECKS[q](verbose=False) for q in CHECKS}
    print(json.dumps({q: {"passed": r.passed, "failures": r.failures} for q, r in results.items()}))
    return 0 if all(r.passed for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
