from . import source as source
from . import tsv as tsv
from ._query import DEFAULT_QUERY_FIELDS as DEFAULT_QUERY_FIELDS
from ._query import QUERY_FIELDS as QUERY_FIELDS
from .source import DEFAULT_API_URL as DEFAULT_API_URL
from .source import EcotaxaSource as EcotaxaSource
from .tsv import FIELD_KINDS as FIELD_KINDS
from .tsv import read_tsv as read_tsv
