from .concat import concat_tables as concat_tables
from .transformers import ConvertUnits as ConvertUnits
from .transformers import DropMissing as DropMissing
from .transformers import HarmoniseColumns as HarmoniseColumns
from .transformers import QualityFilter as QualityFilter
from .transformers import _Matcher as _Matcher
