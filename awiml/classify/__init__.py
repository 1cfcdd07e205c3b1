"""Classifiers and their evaluation.

- :class:`KerasClassifier`, :func:`build_mlp`, :func:`build_cnn`
  (``networks.py``): Keras 3 networks as scikit-learn classifiers;
- :func:`evaluate`, :class:`EvaluationReport` (``evaluation.py``): metrics,
  confusion matrix and figures of any classifier.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
