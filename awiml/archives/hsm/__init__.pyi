# Public names of awiml.archives.hsm, loaded on first use (SPEC 1).
from ._sls import SlsCopy as SlsCopy
from ._sls import SlsRecord as SlsRecord
from ._sls import SlsSection as SlsSection
from ._sls import parse_sls as parse_sls
from .source import HSMSource as HSMSource

__all__ = ["HSMSource", "SlsCopy", "SlsRecord", "SlsSection", "parse_sls"]
