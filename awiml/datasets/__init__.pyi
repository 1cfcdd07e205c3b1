from .calls import CALL_CLASSES as CALL_CLASSES
from .calls import INSTRUMENTS as INSTRUMENTS
from .calls import synthetic_calls as synthetic_calls
from .images import ImageDataset as ImageDataset
from .images import plankton_images as plankton_images
