"""O2A: sensor data of AWI's platforms from the O2A data web service and registry.

- ``source.py``: :class:`PlatformSource`, the fsspec source (protocol ``o2a``);
- ``_request.py``: one extract (codes, range, aggregation, functions), checked;
- ``_table.py``: the service's tab-separated answers, read;
- ``_references.py``: the registry's ``@uuid`` back-references put back in place;
- ``_codes.py``: sensor codes (URNs) and the data tables' column labels.
"""
import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
