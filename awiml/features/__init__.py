"""Feature extractors with scikit-learn's estimator contract, and cached extraction.

- :class:`Spectrogram` (``spectrogram.py``): (mel) spectrograms of recordings;
- :class:`ImageFeatures`, :class:`ImageTensor` (``images.py``): plankton images;
- :func:`extract` (``extraction.py``): one extractor over many files, in parallel,
  cached in a workspace's ``features/`` folder.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
