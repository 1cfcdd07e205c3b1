from .evaluation import EvaluationReport as EvaluationReport
from .evaluation import evaluate as evaluate
from .networks import KerasClassifier as KerasClassifier
from .networks import build_cnn as build_cnn
from .networks import build_mlp as build_mlp
