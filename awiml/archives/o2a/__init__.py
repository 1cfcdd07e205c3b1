"""O2A: AWI's sensor data web service and the O2A registry (issue 14, being built).

- ``_references.py``: the registry's ``@uuid`` back-references put back in place;
- ``_codes.py``: sensor codes (URNs) and the data tables' column labels.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
