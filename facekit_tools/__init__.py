"""facekit_tools: what serves the people around the course, not the lesson.

The ``facekit`` command's front (:mod:`facekit_tools.cli`: ``run``, ``doctor`` and every module's sub-command), the
notebook runner, the benchmark harness (``bench``), the hand-in kit (``handin``: answer sheet, supplementary zip,
print PDFs and LaTeX tables) and the student-edition builder (``edition``). It imports :mod:`facekit`; nothing in
:mod:`facekit` imports it (``tests/test_layout.py``).
"""
