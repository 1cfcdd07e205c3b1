"""The building blocks of ``awiml models reproduce NAME@REF`` (private).

Reproducing a stored model means training it again, in a scratch folder, from
exactly what it was trained on, and comparing the result with what was stored:

- ``inputs.py``: :func:`~awiml.store.reproduce.inputs.gather_inputs` puts every
  recorded training file into the scratch workspace's ``raw/``, linked from the
  source workspace when it holds the recorded bytes, else fetched again from its
  recorded source and checked by SHA-256;
- ``code.py``: :func:`~awiml.store.reproduce.code.checkout_code` checks out the
  training code at its recorded commit (a git worktree of the local repository,
  or a clone of the recorded remote);
- ``compare.py``: the retrained model against the stored one (exact for
  scikit-learn, within a tolerance for Keras networks), their predictions, and
  the recorded package versions against the installed ones;
- ``report.py``: :class:`~awiml.store.reproduce.report.ReproductionReport`, the
  side-by-side report and its verdict.

Nothing is imported here: each module imports its heavy libraries inside the
functions that need them.
"""
