from .extraction import extract as extract
from .images import DEFAULT_PROPERTIES as DEFAULT_PROPERTIES
from .images import ImageFeatures as ImageFeatures
from .images import ImageTensor as ImageTensor
from .spectrogram import DB_FLOOR as DB_FLOOR
from .spectrogram import Spectrogram as Spectrogram
