from . import provenance as provenance
from . import serialize as serialize
from ._predict import predict as predict
from .card import model_card as model_card
from .modelstore import LAYOUT_VERSION as LAYOUT_VERSION
from .modelstore import ModelStore as ModelStore
from .modelstore import ModelStoreError as ModelStoreError
from .modelstore import StoreVerifyReport as StoreVerifyReport
