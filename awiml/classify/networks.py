"""Keras 3 networks as scikit-learn classifiers: :class:`KerasClassifier` and two builders.

Keras is imported only inside the functions that need it, so ``import awiml.classify``
and ``evaluate`` on a scikit-learn model never load Keras or PyTorch.

Keras backend
-------------
When awiml is the first to import Keras and ``KERAS_BACKEND`` is unset, awiml sets it
to ``"torch"`` provided that PyTorch is installed, neither TensorFlow nor JAX is, and
``keras.json`` (in ``$KERAS_HOME`` or ``~/.keras``) names no backend other than the
Keras default ``"tensorflow"``. A backend the user chose is never overridden.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import numbers
import os
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .evaluation import EvaluationReport, evaluate

if TYPE_CHECKING:  # pragma: no cover
    import keras

__all__ = [
    "EvaluationReport",
    "KerasClassifier",
    "build_cnn",
    "build_mlp",
    "evaluate",
]

#: Losses that expect one-hot targets (everything else gets integer class indices).
_ONE_HOT_LOSSES = frozenset({
    "categorical_crossentropy", "categoricalcrossentropy",
    "categorical_focal_crossentropy", "categoricalfocalcrossentropy",
    "categorical_hinge", "categoricalhinge", "kl_divergence", "kldivergence", "kld",
})
#: Losses for a single sigmoid output unit in two-class problems.
_BINARY_LOSSES = frozenset({
    "binary_crossentropy", "binarycrossentropy",
    "binary_focal_crossentropy", "binaryfocalcrossentropy",
})


def _keras_json_backend() -> str | None:
    """Return the backend named in ``keras.json``, or None when there is none."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        config = json.loads(Path(home, "keras.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    backend = config.get("backend") if isinstance(config, dict) else None
    return backend if isinstance(backend, str) else None


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _backend_to_set() -> str | None:
    """Return the backend to put in ``KERAS_BACKEND``, or None.

    The rules are in :mod:`awiml.classify.networks`.
    """
    if "keras" in sys.modules or "KERAS_BACKEND" in os.environ:
        return None
    only_torch = _installed("torch") and not _installed("tensorflow") and not _installed("jax")
    return "torch" if only_torch and _keras_json_backend() in (None, "tensorflow") else None


def _import_keras():
    """Import and return :mod:`keras`, choosing the torch backend when that is the only one."""
    backend = _backend_to_set()
    if backend is not None:
        os.environ["KERAS_BACKEND"] = backend
    import keras

    return keras


def _is_keras(obj: Any, kind: str) -> bool:
    """Whether ``obj`` is a ``keras.<kind>``, without importing Keras (if it is not loaded, no)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(obj, getattr(keras, kind))


def _copy_keras_model(model: keras.Model) -> keras.Model:
    """Return an independent copy of ``model``: same architecture, weights and compilation."""
    keras = _import_keras()
    try:
        copied = keras.models.clone_model(model)
        if model.built:
            copied.set_weights(model.get_weights())
            for layer in _walk_layers(copied):  # e.g. Normalization's derived tensors
                if hasattr(layer, "finalize_state"):
                    layer.finalize_state()
    except Exception:  # e.g. subclassed models without get_config: a (de)serialised copy
        return copy.deepcopy(model)
    if getattr(model, "compiled", False):
        copied.compile_from_config(model.get_compile_config())
    return copied


def _walk_layers(layer):
    """Yield ``layer``'s sub-layers, depth first (models nest layers in ``.layers``)."""
    for sub in getattr(layer, "layers", ()):
        yield sub
        yield from _walk_layers(sub)


def _adapt_input_normalisation(keras, network, X: np.ndarray) -> None:
    """Adapt the network's not yet adapted ``Normalization`` layers fed by its input to ``X``."""
    inputs = getattr(network, "inputs", None) or []
    if len(inputs) != 1:
        return
    for layer in network.layers:
        if not isinstance(layer, keras.layers.Normalization) or layer.input_mean is not None:
            continue
        try:
            fed_by_input = layer.input is inputs[0]
        except (AttributeError, ValueError):  # a layer used more than once
            continue
        if fed_by_input and (not layer.built or (
            np.all(keras.ops.convert_to_numpy(layer.adapt_mean) == 0)
            and np.all(keras.ops.convert_to_numpy(layer.adapt_variance) == 1)
        )):
            layer.adapt(X)


def build_mlp(
    input_shape: tuple[int, ...],
    n_classes: int,
    *,
    hidden_units: int | Sequence[int] = (64,),
    dropout: float = 0.0,
    activation: str = "relu",
    normalize: bool = False,
) -> keras.Model:
    """Build a small fully connected network (multi-layer perceptron), not compiled.

    This is :class:`KerasClassifier`'s default builder. Inputs with more than
    one axis per sample (images, spectrograms) are flattened first.

    Parameters
    ----------
    input_shape : tuple of int
        Shape of one sample, without the batch axis, e.g. ``(48,)``.
    n_classes : int
        Number of classes; the output layer has this many softmax units.
    hidden_units : int or sequence of int, default=(64,)
        Width of each hidden layer; ``()`` gives a multinomial logistic regression.
    dropout : float, default=0.0
        Dropout rate after each hidden layer (0 disables dropout).
    activation : str, default="relu"
        Activation of the hidden layers.
    normalize : bool, default=False
        Start with a ``keras.layers.Normalization`` layer that standardises
        each feature; :meth:`KerasClassifier.fit` adapts it to the training
        data. (In a Pipeline, a ``StandardScaler`` step does the same.)

    Returns
    -------
    keras.Model
        A functional model mapping ``input_shape`` to ``n_classes`` probabilities.

    See Also
    --------
    build_cnn : a small convolutional network for image-shaped input.

    Examples
    --------
    >>> model = build_mlp((48,), 4, hidden_units=(16,))
    >>> model.output_shape
    (None, 4)
    """
    keras = _import_keras()
    layers = keras.layers
    if isinstance(hidden_units, numbers.Integral):
        hidden_units = (int(hidden_units),)
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Normalization(axis=-1)(inputs) if normalize else inputs
    x = layers.Flatten()(x) if len(input_shape) > 1 else x
    for units in hidden_units:
        x = layers.Dense(int(units), activation=activation)(x)
        if dropout:
            x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="mlp")


def build_cnn(
    input_shape: tuple[int, ...],
    n_classes: int,
    *,
    filters: int | Sequence[int] = (16, 32),
    kernel_size: int = 3,
    dense_units: int = 32,
    dropout: float = 0.0,
    normalize: bool = True,
) -> keras.Model:
    """Build a small 2-D convolutional network for images or spectrograms, not compiled.

    Each entry of ``filters`` adds a convolution (ReLU, "same" padding) and a
    2x2 max-pooling; global average pooling, one dense layer and a softmax
    output follow.

    Parameters
    ----------
    input_shape : tuple of int
        ``(height, width, channels)`` or ``(height, width)`` of one sample (a
        channel axis is added to the latter).
    n_classes : int
        Number of classes; the output layer has this many softmax units.
    filters : int or sequence of int, default=(16, 32)
        Number of filters of each convolution block.
    kernel_size : int, default=3
        Size of the square convolution kernels.
    dense_units : int, default=32
        Width of the dense layer before the output (0 leaves it out).
    dropout : float, default=0.0
        Dropout rate before the output layer (0 disables dropout).
    normalize : bool, default=True
        Start with a ``keras.layers.Normalization(axis=None)`` layer (one mean
        and variance over all pixels) that :meth:`KerasClassifier.fit` adapts.
        Without it, inputs far from zero (a spectrogram in dB, say -90 to -20)
        can leave the ReLU units dead and the network at chance level.

    Returns
    -------
    keras.Model
        A functional model named ``"cnn"``; its output has ``n_classes`` softmax units.

    See Also
    --------
    build_mlp : a fully connected network, for feature tables.

    Examples
    --------
    >>> model = build_cnn((16, 16, 1), 2, filters=(4,))
    >>> model.output_shape
    (None, 2)
    """
    keras = _import_keras()
    layers = keras.layers
    if len(input_shape) not in (2, 3):
        raise ValueError(
            "build_cnn needs samples of shape (height, width[, channels]), "
            f"got {tuple(input_shape)}; use build_mlp for feature tables"
        )
    if isinstance(filters, numbers.Integral):
        filters = (int(filters),)
    inputs = keras.Input(shape=tuple(input_shape))
    x = layers.Normalization(axis=None)(inputs) if normalize else inputs
    x = layers.Reshape((*input_shape, 1))(x) if len(input_shape) == 2 else x
    for n_filters in filters:
        x = layers.Conv2D(int(n_filters), kernel_size, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    if dense_units:
        x = layers.Dense(int(dense_units), activation="relu")(x)
    if dropout:
        x = layers.Dropout(dropout)(x)
    outputs = layers.Dense(n_classes, activation="softmax")(x)
    return keras.Model(inputs, outputs, name="cnn")


class KerasClassifier(ClassifierMixin, BaseEstimator):
    """A Keras 3 model as a scikit-learn classifier.

    ``fit`` calls the builder ``model`` (or copies a built model, so the one you
    passed is never trained), compiles the result unless it is compiled, adapts
    a ``keras.layers.Normalization`` layer on its input given no ``mean`` or
    ``variance`` and not adapted yet to the training data (less the validation
    part), and trains it. Any Keras 3 backend works. The network must end in
    ``n_classes`` softmax units (or, for two classes, one sigmoid unit with a
    binary loss); with a ``from_logits=True`` loss, ``predict_proba`` applies
    the softmax.

    Parameters
    ----------
    model : callable or keras.Model, default=None
        A builder ``build(input_shape, n_classes, **model_params)`` returning
        a ``keras.Model`` (compiled or not), or a built ``keras.Model``. None
        uses :func:`build_mlp`.
    model_params : dict, default=None
        Keyword arguments for the builder (the network's hyper-parameters), each
        also a parameter ``model_params__<name>`` for ``set_params`` and
        ``GridSearchCV`` (``{"model_params__units": [16, 64]}``). Must be empty
        when ``model`` is a built model.
    optimizer : str or keras.optimizers.Optimizer, default="adam"
        Optimizer for models that are not compiled yet. An optimizer object is
        copied at each fit, so fits never share optimizer state.
    learning_rate : float, default=None
        Learning rate of ``optimizer``; None keeps the optimizer's own.
    loss : str or keras.losses.Loss, default="sparse_categorical_crossentropy"
        Loss for models that are not compiled yet. A categorical (one-hot)
        loss gets one-hot targets, a binary loss 0/1 targets.
    metrics : sequence, default=("accuracy",)
        Metrics reported per epoch in ``history_``, for models not compiled yet.
    epochs : int, default=10
        Maximum number of passes over the training data.
    batch_size : int, default=32
        Samples per gradient step (and per prediction batch).
    validation_split : float, default=0.0
        Fraction of the training data held out, stratified by class and
        shuffled with ``random_state`` (not Keras' *last* samples), for the
        ``val_*`` metrics in ``history_`` and for ``early_stopping``.
    early_stopping : bool, default=False
        Stop when the monitored loss (``val_loss`` with a validation split,
        else the training ``loss``) has not improved for ``patience`` epochs,
        and restore the weights of the best epoch.
    patience : int, default=5
        Epochs without improvement before early stopping.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes in the loss, keyed by label. ``"balanced"``
        weighs each class inversely to its frequency (for rare classes).
    shuffle : bool, default=True
        Shuffle the training data before each epoch.
    callbacks : list of keras.callbacks.Callback, default=None
        Extra callbacks for ``model.fit``, used as given (not copied).
    random_state : int, numpy.random.RandomState or None, default=None
        Seed for weight initialisation, shuffling, dropout and the validation
        split (an int makes fits repeatable), passed to
        :func:`keras.utils.set_random_seed`, which seeds the global generators.
    verbose : int, default=0
        Keras' verbosity in fit and predict (0 silent, 1 progress bar, 2 one
        line per epoch).

    Attributes
    ----------
    model_ : keras.Model
        The trained network.
    classes_ : numpy.ndarray of shape (n_classes,)
        The class labels, in the order of the ``predict_proba`` columns.
    class_weight_ : numpy.ndarray of shape (n_classes,)
        The weight of each class in the loss (all ones without ``class_weight``).
    history_ : dict of str to list of float
        Per-epoch metrics from training, e.g. ``loss``, ``accuracy``,
        ``val_loss``, ``val_accuracy``.
    n_iter_ : int
        Number of epochs actually run (fewer than ``epochs`` after early stopping).
    n_features_in_ : int
        ``X.shape[1]`` seen in fit, as in scikit-learn.
    input_shape_ : tuple of int
        Shape of one sample seen in fit, ``X.shape[1:]``; prediction checks it.
    feature_names_in_ : numpy.ndarray of shape (n_features,)
        Column names, when ``X`` in fit was a DataFrame with string column names.

    See Also
    --------
    build_mlp, build_cnn : ready builders for tables and images.
    evaluate : metrics, confusion matrix and learning curves of a fitted classifier.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> y = np.where(X[:, 0] > 0, "Copepoda", "detritus")
    >>> clf = KerasClassifier(model_params={"hidden_units": (8,)}, epochs=30,
    ...                       learning_rate=0.05, random_state=0).fit(X, y)
    >>> clf.classes_
    array(['Copepoda', 'detritus'], dtype='<U8')
    >>> clf.score(X, y) > 0.9
    True
    >>> clf.set_params(model_params__hidden_units=(4,)).model_params
    {'hidden_units': (4,)}
    """

    # Stored models name this class by its public path: keep it when the file moves.
    __module__ = "awiml.classify"

    def __init__(
        self,
        model: Callable[..., Any] | keras.Model | None = None,
        *,
        model_params: dict[str, Any] | None = None,
        optimizer: Any = "adam",
        learning_rate: float | None = None,
        loss: Any = "sparse_categorical_crossentropy",
        metrics: Sequence[Any] | None = ("accuracy",),
        epochs: int = 10,
        batch_size: int = 32,
        validation_split: float = 0.0,
        early_stopping: bool = False,
        patience: int = 5,
        class_weight: dict[Any, float] | str | None = None,
        shuffle: bool = True,
        callbacks: list[Any] | None = None,
        random_state: int | np.random.RandomState | None = None,
        verbose: int = 0,
    ):
        self.model = model
        self.model_params = model_params
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.loss = loss
        self.metrics = metrics
        self.epochs = epochs
        self.batch_size = batch_size
        self.validation_split = validation_split
        self.early_stopping = early_stopping
        self.patience = patience
        self.class_weight = class_weight
        self.shuffle = shuffle
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get the parameters of this classifier.

        Parameters
        ----------
        deep : bool, default=True
            If True, also list each builder hyper-parameter of ``model_params``
            as ``model_params__<name>``.

        Returns
        -------
        dict
            Parameter names mapped to their values.
        """
        params = super().get_params(deep=deep)
        if deep and isinstance(self.model_params, Mapping):
            params.update((f"model_params__{k}", v) for k, v in self.model_params.items())
        return params

    def set_params(self, **params: Any) -> KerasClassifier:
        """Set parameters, including builder hyper-parameters as ``model_params__<name>``.

        A ``model_params__<name>`` value replaces (or adds) one entry of
        ``model_params``; the dict is copied, never changed in place.

        Parameters
        ----------
        **params : dict
            Parameter names mapped to their new values.

        Returns
        -------
        KerasClassifier
            This classifier.
        """
        prefix = "model_params__"
        routed = {k[len(prefix):]: params.pop(k) for k in list(params) if k.startswith(prefix)}
        super().set_params(**params)
        if routed:
            current = self.model_params
            if current is not None and not isinstance(current, Mapping):
                raise ValueError(
                    f"cannot set {sorted(prefix + k for k in routed)}: model_params is "
                    f"{type(current).__name__}, not a dict"
                )
            self.model_params = {**(current or {}), **routed}
        return self

    def __sklearn_clone__(self) -> KerasClassifier:
        """Return an unfitted copy; a built Keras ``model`` is copied with its own weights."""
        params = {}
        for name, value in self.get_params(deep=False).items():
            if _is_keras(value, "Model"):
                params[name] = _copy_keras_model(value)
            elif _is_keras(value, "Optimizer"):
                params[name] = type(value).from_config(value.get_config())
            else:
                params[name] = clone(value, safe=False)
        copied = type(self)(**params)
        if hasattr(self, "_metadata_request"):  # set_fit_request(...) choices, as sklearn's clone
            copied._metadata_request = copy.deepcopy(self._metadata_request)
        return copied

    def __sklearn_tags__(self):
        """Tags: a classifier that accepts N-dimensional input (and, by default, no NaN)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    def _check_params(self) -> None:
        for name, minimum in (("epochs", 1), ("batch_size", 1), ("patience", 0), ("verbose", 0)):
            value = getattr(self, name)
            is_int = isinstance(value, numbers.Integral) and not isinstance(value, bool)
            if not is_int or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
        vs = self.validation_split
        if not isinstance(vs, numbers.Real) or not 0.0 <= vs < 1.0:
            raise ValueError(f"validation_split must be a number in [0, 1), got {vs!r}")
        lr = self.learning_rate
        if lr is not None and not (isinstance(lr, numbers.Real) and lr > 0):
            raise ValueError(f"learning_rate must be a positive number or None, got {lr!r}")
        if self.model_params is not None and not isinstance(self.model_params, Mapping):
            raise TypeError(f"model_params must be a dict or None, "
                            f"got {type(self.model_params).__name__}")
        cw = self.class_weight
        if not (cw is None or cw == "balanced" or isinstance(cw, Mapping)):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {cw!r}")

    def _build(self, keras, input_shape: tuple[int, ...], n_classes: int):
        """Return a fresh, compiled network for this fit."""
        params = dict(self.model_params or {})
        if isinstance(self.model, keras.Model):
            if params:
                raise ValueError(
                    f"model_params {sorted(params)} cannot apply to a built Keras model; "
                    "pass a builder function as model to use hyper-parameters"
                )
            network = _copy_keras_model(self.model)
        else:
            builder = build_mlp if self.model is None else self.model
            if not callable(builder):
                raise TypeError(
                    "model must be a keras.Model or a function "
                    "build(input_shape, n_classes, **model_params) -> keras.Model, "
                    f"got {type(builder).__name__}"
                )
            _check_builder_params(builder, params)
            network = builder(tuple(input_shape), n_classes, **params)
            if not isinstance(network, keras.Model):
                raise TypeError(
                    f"the builder {getattr(builder, '__name__', builder)!r} returned "
                    f"{type(network).__name__}, not a keras.Model"
                )
        if getattr(network, "compiled", False):
            if self.learning_rate is not None:
                warnings.warn(
                    "the model is compiled already, so learning_rate (and optimizer, loss, "
                    "metrics) are ignored; return an uncompiled model to use them",
                    UserWarning,
                    stacklevel=3,
                )
            return network
        optimizer = keras.optimizers.get(self.optimizer)
        config = optimizer.get_config()
        if self.learning_rate is not None:
            config["learning_rate"] = float(self.learning_rate)
        network.compile(
            optimizer=type(optimizer).from_config(config),
            loss=self.loss,
            metrics=list(self.metrics) if self.metrics is not None else None,
        )
        return network

    def _encode(self, network, y_idx: np.ndarray, n_classes: int) -> np.ndarray:
        """Targets in the form the network's loss expects: indices, one-hot or 0/1."""
        loss = getattr(network, "loss", self.loss)  # a string, function or Loss object
        if not isinstance(loss, str):
            loss = loss.__name__ if inspect.isfunction(loss) else type(loss).__name__
        name = loss.lower()
        if name in _ONE_HOT_LOSSES:
            return np.eye(n_classes, dtype="float32")[y_idx]
        if name in _BINARY_LOSSES:
            if n_classes != 2:
                raise ValueError(
                    f"a binary loss needs exactly 2 classes, y has {n_classes}; use "
                    "sparse_categorical_crossentropy with n_classes softmax units"
                )
            return y_idx.astype("float32").reshape(-1, 1)
        return y_idx.astype("int32")

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> KerasClassifier:
        """Build (or copy) a new network and train it on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Numeric training samples: ``(n_samples, n_features)`` for tables,
            ``(n_samples, height, width, channels)`` for images, and so on.
        y : array-like of shape (n_samples,)
            Class labels of any type.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample in the loss, multiplied by the class weight.

        Returns
        -------
        KerasClassifier
            This classifier, fitted.
        """
        self._check_params()
        keras = _import_keras()
        X, y = validate_data(self, X, y, allow_nd=True, dtype=keras.config.floatx())
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        n_classes = len(classes)
        if n_classes < 2:
            raise ValueError(
                f"KerasClassifier needs samples of at least 2 classes, y has 1 class "
                f"({classes[0]!r})"
            )
        if isinstance(self.class_weight, Mapping):
            unknown = [label for label in self.class_weight if label not in set(classes)]
            if unknown:
                raise ValueError(f"class_weight names labels that are not in y: {unknown}; "
                                 f"the classes are {list(classes)}")
        class_weight = compute_class_weight(self.class_weight, classes=classes, y=y)
        weights = class_weight[y_idx]
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype="float64")
            if sample_weight.shape != (len(y),):
                raise ValueError(f"sample_weight has shape {sample_weight.shape}, "
                                 f"expected ({len(y)},)")
            if (sample_weight < 0).any() or not np.isfinite(sample_weight).all():
                raise ValueError("sample_weight must be finite and non-negative")
            if not sample_weight.any():
                raise ValueError("sample weights are all zero: nothing to learn from")
            weights = weights * sample_weight
        use_weights = sample_weight is not None or self.class_weight is not None
        input_shape = tuple(int(d) for d in X.shape[1:])

        seed = self.random_state
        if seed is not None and not isinstance(seed, numbers.Integral):
            seed = check_random_state(seed).randint(np.iinfo(np.int32).max)
        if seed is not None:
            seed = int(seed)
            keras.utils.set_random_seed(seed)
        network = self._build(keras, input_shape, n_classes)
        _check_output_units(network, input_shape, n_classes)
        targets = self._encode(network, y_idx, n_classes)

        train = np.arange(len(y))
        validation_data = None
        if self.validation_split > 0:
            train, val = _split(y_idx, self.validation_split, seed)
            validation_data = (X[val], targets[val])
            if use_weights:
                validation_data += (weights[val].astype("float32"),)
        _adapt_input_normalisation(keras, network, X[train])
        callbacks = list(self.callbacks or [])
        if self.early_stopping:
            callbacks.append(keras.callbacks.EarlyStopping(
                monitor="val_loss" if validation_data is not None else "loss",
                patience=self.patience,
                restore_best_weights=True,
            ))
        history = network.fit(
            X[train],
            targets[train],
            sample_weight=weights[train].astype("float32") if use_weights else None,
            validation_data=validation_data,
            epochs=self.epochs,
            batch_size=self.batch_size,
            shuffle=self.shuffle,
            callbacks=callbacks,
            verbose=self.verbose,
        )
        # Fitted attributes are set together, once training succeeded.
        self.model_ = network
        self.classes_ = classes
        self.class_weight_ = class_weight
        self.input_shape_ = input_shape
        self.history_ = {k: [float(v) for v in vals] for k, vals in history.history.items()}
        self.n_iter_ = len(next(iter(self.history_.values()), []))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one column per class in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples of the shape seen in fit, ``input_shape_``.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
            Probabilities; each row sums to 1.
        """
        check_is_fitted(self)
        keras = _import_keras()
        X = validate_data(self, X, reset=False, allow_nd=True, dtype=keras.config.floatx())
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {tuple(X.shape[1:])}, but {type(self).__name__} "
                f"was fitted on samples of shape {self.input_shape_}"
            )
        out = np.asarray(
            self.model_.predict(X, batch_size=self.batch_size, verbose=self.verbose),
            dtype="float64",
        ).reshape(len(X), -1)
        if out.shape[1] == 1 and len(self.classes_) == 2:
            p = out[:, 0]
            p = 1.0 / (1.0 + np.exp(-p)) if _from_logits(self.model_) else p
            out = np.column_stack([1.0 - p, p])
        elif _from_logits(self.model_):
            out = np.exp(out - out.max(axis=1, keepdims=True))
        if out.shape[1] != len(self.classes_):
            raise ValueError(
                f"the network returns {out.shape[1]} values per sample but there are "
                f"{len(self.classes_)} classes"
            )
        out = np.clip(out, 0.0, None)
        total = out.sum(axis=1, keepdims=True)
        uniform = np.full_like(out, 1.0 / out.shape[1])
        return np.divide(out, total, out=uniform, where=total > 0)

    def predict(self, X: Any) -> np.ndarray:
        """Predict the most probable class label of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples of the shape seen in fit.

        Returns
        -------
        numpy.ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of the class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples, as for :meth:`predict_proba`.

        Returns
        -------
        numpy.ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``; ``-inf`` where a probability is 0.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


def _check_builder_params(builder: Callable[..., Any], params: Mapping[str, Any]) -> None:
    """Raise a clear error when ``model_params`` names an argument the builder lacks."""
    try:
        signature = inspect.signature(builder)
    except (TypeError, ValueError):
        return
    accepted = signature.parameters
    if any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
        return
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        name = getattr(builder, "__name__", repr(builder))
        raise ValueError(
            f"model_params {unknown} are not arguments of the builder {name}{signature}; "
            "fix the names or add them to the builder"
        )


def _check_output_units(network, input_shape: tuple[int, ...], n_classes: int) -> None:
    """Fail early, with advice, when the network's output does not fit the classes."""
    try:
        units = network.compute_output_shape((None, *input_shape))[-1]
    except Exception:  # a model that cannot tell its output shape: prediction will check
        return
    if units is not None and units != n_classes and not (units == 1 and n_classes == 2):
        raise ValueError(
            f"the network ends in {units} units but y has {n_classes} classes; build the "
            "output layer with n_classes units (the builder receives n_classes)"
        )


def _split(y_idx: np.ndarray, fraction: float, seed: int | None):
    """Shuffled, stratified when possible, train/validation indices."""
    from sklearn.model_selection import train_test_split

    index = np.arange(len(y_idx))
    if len(index) < 2:
        raise ValueError("validation_split needs at least 2 samples")
    try:
        return train_test_split(index, test_size=fraction, stratify=y_idx, random_state=seed)
    except ValueError:  # a class too small to stratify
        return train_test_split(index, test_size=fraction, random_state=seed)


def _from_logits(network) -> bool:
    return bool(getattr(getattr(network, "loss", None), "from_logits", False))


# Stored models name the builders by their public path: keep it when the file moves.
build_mlp.__module__ = build_cnn.__module__ = "awiml.classify"
