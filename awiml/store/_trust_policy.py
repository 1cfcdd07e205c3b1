"""The reviewed trust policy: the exact names that loading a saved model may build.

Data only, checked by :mod:`awiml.store.serialize`, which re-exports and
documents the public lists and tells how they were reviewed; change a list
only after the same review.
"""

from __future__ import annotations

import re

__all__ = ["KERAS_LAYERS", "TRUSTED_TYPES"]


def _dotted(module: str, classes: str) -> list[str]:
    """Return ``module.name`` for each space-separated name in ``classes``.

    Examples
    --------
    >>> _dotted("keras.regularizers", "L1 L2")
    ['keras.regularizers.L1', 'keras.regularizers.L2']
    """
    return [f"{module}.{name}" for name in classes.split()]


_SKLEARN_ESTIMATORS = [
    *_dotted("sklearn.calibration", "CalibratedClassifierCV"),
    *_dotted("sklearn.cluster._kmeans", "KMeans MiniBatchKMeans"),
    *_dotted("sklearn.compose._column_transformer", "ColumnTransformer"),
    *_dotted("sklearn.compose._target", "TransformedTargetRegressor"),
    *_dotted("sklearn.covariance._elliptic_envelope", "EllipticEnvelope"),
    *_dotted("sklearn.cross_decomposition._pls", "CCA PLSCanonical PLSRegression PLSSVD"),
    *_dotted("sklearn.decomposition._factor_analysis", "FactorAnalysis"),
    *_dotted("sklearn.decomposition._fastica", "FastICA"),
    *_dotted("sklearn.decomposition._incremental_pca", "IncrementalPCA"),
    *_dotted("sklearn.decomposition._kernel_pca", "KernelPCA"),
    *_dotted("sklearn.decomposition._nmf", "MiniBatchNMF NMF"),
    *_dotted("sklearn.decomposition._pca", "PCA"),
    *_dotted("sklearn.decomposition._truncated_svd", "TruncatedSVD"),
    *_dotted("sklearn.discriminant_analysis",
            "LinearDiscriminantAnalysis QuadraticDiscriminantAnalysis"),
    *_dotted("sklearn.dummy", "DummyClassifier DummyRegressor"),
    *_dotted("sklearn.ensemble._bagging", "BaggingClassifier BaggingRegressor"),
    *_dotted("sklearn.ensemble._forest",
            "ExtraTreesClassifier ExtraTreesRegressor RandomForestClassifier "
            "RandomForestRegressor RandomTreesEmbedding"),
    *_dotted("sklearn.ensemble._gb", "GradientBoostingClassifier GradientBoostingRegressor"),
    *_dotted("sklearn.ensemble._hist_gradient_boosting.gradient_boosting",
            "HistGradientBoostingClassifier HistGradientBoostingRegressor"),
    *_dotted("sklearn.ensemble._iforest", "IsolationForest"),
    *_dotted("sklearn.ensemble._stacking", "StackingClassifier StackingRegressor"),
    *_dotted("sklearn.ensemble._voting", "VotingClassifier VotingRegressor"),
    *_dotted("sklearn.ensemble._weight_boosting", "AdaBoostClassifier AdaBoostRegressor"),
    *_dotted("sklearn.feature_selection._from_model", "SelectFromModel"),
    *_dotted("sklearn.feature_selection._rfe", "RFE RFECV"),
    *_dotted("sklearn.feature_selection._variance_threshold", "VarianceThreshold"),
    *_dotted("sklearn.impute._base", "MissingIndicator SimpleImputer"),
    *_dotted("sklearn.impute._knn", "KNNImputer"),
    *_dotted("sklearn.isotonic", "IsotonicRegression"),
    *_dotted("sklearn.kernel_approximation", "Nystroem RBFSampler"),
    *_dotted("sklearn.kernel_ridge", "KernelRidge"),
    *_dotted("sklearn.linear_model._base", "LinearRegression"),
    *_dotted("sklearn.linear_model._bayes", "ARDRegression BayesianRidge"),
    *_dotted("sklearn.linear_model._coordinate_descent", "ElasticNet ElasticNetCV Lasso LassoCV"),
    *_dotted("sklearn.linear_model._glm.glm", "GammaRegressor PoissonRegressor TweedieRegressor"),
    *_dotted("sklearn.linear_model._huber", "HuberRegressor"),
    *_dotted("sklearn.linear_model._logistic", "LogisticRegression LogisticRegressionCV"),
    *_dotted("sklearn.linear_model._perceptron", "Perceptron"),
    *_dotted("sklearn.linear_model._quantile", "QuantileRegressor"),
    *_dotted("sklearn.linear_model._ridge", "Ridge RidgeCV RidgeClassifier RidgeClassifierCV"),
    *_dotted("sklearn.linear_model._stochastic_gradient", "SGDClassifier SGDRegressor"),
    *_dotted("sklearn.mixture._gaussian_mixture", "GaussianMixture"),
    *_dotted("sklearn.multiclass", "OneVsOneClassifier OneVsRestClassifier"),
    *_dotted("sklearn.multioutput", "MultiOutputClassifier MultiOutputRegressor"),
    *_dotted("sklearn.naive_bayes",
            "BernoulliNB CategoricalNB ComplementNB GaussianNB MultinomialNB"),
    *_dotted("sklearn.neighbors._classification", "KNeighborsClassifier"),
    *_dotted("sklearn.neighbors._lof", "LocalOutlierFactor"),
    *_dotted("sklearn.neighbors._nearest_centroid", "NearestCentroid"),
    *_dotted("sklearn.neighbors._regression", "KNeighborsRegressor"),
    *_dotted("sklearn.neighbors._unsupervised", "NearestNeighbors"),
    *_dotted("sklearn.neural_network._multilayer_perceptron", "MLPClassifier MLPRegressor"),
    *_dotted("sklearn.pipeline", "FeatureUnion Pipeline"),
    *_dotted("sklearn.preprocessing._data",
            "Binarizer MaxAbsScaler MinMaxScaler Normalizer PowerTransformer "
            "QuantileTransformer RobustScaler StandardScaler"),
    *_dotted("sklearn.preprocessing._discretization", "KBinsDiscretizer"),
    *_dotted("sklearn.preprocessing._encoders", "OneHotEncoder OrdinalEncoder"),
    *_dotted("sklearn.preprocessing._function_transformer", "FunctionTransformer"),
    *_dotted("sklearn.preprocessing._label", "LabelBinarizer LabelEncoder"),
    *_dotted("sklearn.preprocessing._polynomial", "PolynomialFeatures SplineTransformer"),
    *_dotted("sklearn.preprocessing._target_encoder", "TargetEncoder"),
    *_dotted("sklearn.random_projection", "GaussianRandomProjection SparseRandomProjection"),
    *_dotted("sklearn.svm._classes", "LinearSVC LinearSVR NuSVC NuSVR OneClassSVM SVC SVR"),
    *_dotted("sklearn.tree._classes",
            "DecisionTreeClassifier DecisionTreeRegressor ExtraTreeClassifier "
            "ExtraTreeRegressor"),
]

_SKLEARN_INTERNALS = [
    # tree structures: content checked after loading (see awiml.store._model_checks)
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    # distance metrics that hold no user data (Minkowski's weights are checked)
    *_dotted("sklearn.metrics._dist_metrics",
            "EuclideanDistance64 EuclideanDistance32 ManhattanDistance64 ManhattanDistance32 "
            "ChebyshevDistance64 ChebyshevDistance32 MinkowskiDistance64 MinkowskiDistance32"),
    # losses and links of the gradient-boosting, GLM, SGD and HGB models
    *_dotted("sklearn._loss.link",
            "HalfLogitLink IdentityLink Interval LogitLink LogLink MultinomialLogit"),
    *_dotted("sklearn._loss.loss",
            "AbsoluteError ExponentialLoss HalfBinomialLoss HalfGammaLoss HalfMultinomialLoss "
            "HalfPoissonLoss HalfSquaredError HalfTweedieLoss HalfTweedieLossIdentity HuberLoss "
            "PinballLoss"),
    *_dotted("sklearn._loss._loss",
            "CyAbsoluteError CyExponentialLoss CyHalfBinomialLoss CyHalfGammaLoss "
            "CyHalfMultinomialLoss CyHalfPoissonLoss CyHalfSquaredError CyHalfTweedieLoss "
            "CyHalfTweedieLossIdentity CyHuberLoss CyPinballLoss"),
    *_dotted("sklearn.linear_model._sgd_fast",
            "EpsilonInsensitive Hinge ModifiedHuber SquaredEpsilonInsensitive SquaredHinge"),
    *_dotted("sklearn.neural_network._stochastic_optimizers", "AdamOptimizer SGDOptimizer"),
    "sklearn.utils._bunch.Bunch",
    # HistGradientBoosting with categorical features: FunctionTransformer(partial(check_array))
    "functools.partial",
    "sklearn.utils.validation.check_array",
]

_NUMPY = [
    "numpy.ndarray",
    "numpy.dtype",
    *_dotted("numpy",
            "bool bool_ float16 float32 float64 longdouble complex64 complex128 "
            "int8 int16 int32 int64 uint8 uint16 uint32 uint64 intc uintc "
            "str_ bytes_ datetime64 timedelta64"),
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
]

_SCIPY = [
    # awiml.features.Spectrogram keeps its transform: plain Python over NumPy arrays,
    # no __setstate__ of its own
    "scipy.signal._short_time_fft.ShortTimeFFT",
]

_PYTHON = [
    *_dotted("builtins", "bool bytes bytearray complex dict float int list set slice str tuple"),
    "collections.OrderedDict",
]

_AWIML = [
    *_dotted("awiml.preprocess", "ConvertUnits DropMissing HarmoniseColumns QualityFilter"),
    # HarmoniseColumns' compiled mapping: lists and dicts of str, no __setstate__
    "awiml.preprocess._Matcher",
    *_dotted("awiml.features", "ImageFeatures ImageTensor Spectrogram"),
]

# Published (and documented) as awiml.store.serialize.TRUSTED_TYPES.
TRUSTED_TYPES: tuple[str, ...] = tuple(
    sorted(set(_SKLEARN_ESTIMATORS + _SKLEARN_INTERNALS + _NUMPY + _SCIPY + _PYTHON
               + _AWIML))
)

_KERAS_LAYERS = (
    "Activation ActivityRegularization AdaptiveAveragePooling1D AdaptiveAveragePooling2D "
    "AdaptiveAveragePooling3D AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D "
    "Add AdditiveAttention AlphaDropout Attention AugMix AutoContrast Average "
    "AveragePooling1D AveragePooling2D AveragePooling3D BatchNormalization Bidirectional "
    "CategoryEncoding CenterCrop Concatenate ContrastLimitedAdaptiveHistogramEqualization "
    "Conv1D Conv1DTranspose Conv2D Conv2DTranspose Conv3D Conv3DTranspose ConvLSTM1D "
    "ConvLSTM2D ConvLSTM3D Cropping1D Cropping2D Cropping3D CutMix Dense DepthwiseConv1D "
    "DepthwiseConv2D Discretization Dot Dropout ELU EinsumDense Embedding Equalization "
    "Flatten GRU GRUCell GaussianDropout GaussianNoise GlobalAveragePooling1D "
    "GlobalAveragePooling2D GlobalAveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D "
    "GlobalMaxPooling3D GroupNormalization GroupQueryAttention HashedCrossing Hashing "
    "Identity InputLayer LSTM LSTMCell LayerNormalization LeakyReLU Masking "
    "MaxNumBoundingBoxes MaxPooling1D MaxPooling2D MaxPooling3D Maximum MelSpectrogram "
    "Minimum MixUp MultiHeadAttention Multiply Normalization PReLU Permute Pipeline "
    "RMSNormalization RNN RandAugment RandomBrightness RandomColorDegeneration "
    "RandomColorJitter RandomContrast RandomCrop RandomElasticTransform RandomErasing "
    "RandomFlip RandomGaussianBlur RandomGrayscale RandomHue RandomInvert RandomPerspective "
    "RandomPosterization RandomRotation RandomSaturation RandomSharpness RandomShear "
    "RandomTranslation RandomZoom ReLU RepeatVector Rescaling Reshape Resizing "
    "ReversibleEmbedding STFTSpectrogram SeparableConv1D SeparableConv2D SimpleRNN "
    "SimpleRNNCell Softmax Solarization SpatialDropout1D SpatialDropout2D SpatialDropout3D "
    "SpectralNormalization StackedRNNCells Subtract TimeDistributed UnitNormalization "
    "UpSampling1D UpSampling2D UpSampling3D ZeroPadding1D ZeroPadding2D ZeroPadding3D"
)
_KERAS_ACTIVATIONS = (
    "celu elu exponential gelu glu hard_shrink hard_sigmoid hard_silu hard_swish hard_tanh "
    "leaky_relu linear log_sigmoid log_softmax mish relu relu6 selu sigmoid silu soft_shrink "
    "softmax softplus softsign sparse_plus sparse_sigmoid sparsemax squareplus swish tanh "
    "tanh_shrink threshold"
)
_KERAS_METRIC_FUNCTIONS = (
    "binary_accuracy binary_crossentropy binary_focal_crossentropy categorical_accuracy "
    "categorical_crossentropy categorical_focal_crossentropy categorical_hinge "
    "concordance_correlation hinge kl_divergence mean_absolute_error "
    "mean_absolute_percentage_error mean_squared_error mean_squared_logarithmic_error "
    "pearson_correlation poisson sparse_categorical_accuracy sparse_categorical_crossentropy "
    "sparse_top_k_categorical_accuracy squared_hinge top_k_categorical_accuracy"
)

# Published (and documented, with what is deliberately absent and why) as
# awiml.store.serialize.KERAS_LAYERS.
KERAS_LAYERS: frozenset[str] = frozenset([
    "keras.Sequential",
    "keras.Model",
    "keras.src.models.functional.Functional",
    *_dotted("keras", "DTypePolicy FloatDTypePolicy"),
    *_dotted("keras.dtype_policies",
            "DTypePolicyMap QuantizedDTypePolicy QuantizedFloat8DTypePolicy Int4DTypePolicy"),
    *_dotted("keras.layers", _KERAS_LAYERS),
    *_dotted("keras.initializers",
            "Constant GlorotNormal GlorotUniform HeNormal HeUniform Identity LecunNormal "
            "LecunUniform Ones Orthogonal RandomNormal RandomUniform STFT TruncatedNormal "
            "VarianceScaling Zeros"),
    *_dotted("keras.regularizers", "L1 L1L2 L2 OrthogonalRegularizer"),
    *_dotted("keras.constraints", "MaxNorm MinMaxNorm NonNeg UnitNorm"),
    *_dotted("keras.optimizers",
            "Adadelta Adafactor Adagrad Adam AdamW Adamax Ftrl Lamb Lion LossScaleOptimizer "
            "Muon Nadam RMSprop SGD ScheduleFreeAdamW"),
    *_dotted("keras.optimizers.schedules",
            "CosineDecay CosineDecayRestarts ExponentialDecay InverseTimeDecay "
            "PiecewiseConstantDecay PolynomialDecay"),
    *_dotted("keras.losses",
            "BinaryCrossentropy BinaryFocalCrossentropy CTC CategoricalCrossentropy "
            "CategoricalFocalCrossentropy CategoricalGeneralizedCrossEntropy CategoricalHinge "
            "Circle CosineSimilarity Dice Hinge Huber KLDivergence LogCosh MeanAbsoluteError "
            "MeanAbsolutePercentageError MeanSquaredError MeanSquaredLogarithmicError Poisson "
            "SparseCategoricalCrossentropy SquaredHinge Tversky"),
    *_dotted("keras.metrics",
            "AUC Accuracy BinaryAccuracy BinaryCrossentropy BinaryIoU CategoricalAccuracy "
            "CategoricalCrossentropy CategoricalHinge ConcordanceCorrelation CosineSimilarity "
            "F1Score FBetaScore FalseNegatives FalsePositives Hinge IoU KLDivergence "
            "LogCoshError Mean MeanAbsoluteError MeanAbsolutePercentageError MeanIoU "
            "MeanMetricWrapper MeanSquaredError MeanSquaredLogarithmicError OneHotIoU "
            "OneHotMeanIoU PearsonCorrelation Poisson Precision PrecisionAtRecall R2Score "
            "Recall RecallAtPrecision RootMeanSquaredError SensitivityAtSpecificity "
            "SparseCategoricalAccuracy SparseCategoricalCrossentropy "
            "SparseTopKCategoricalAccuracy SpecificityAtSensitivity SquaredHinge Sum "
            "TopKCategoricalAccuracy TrueNegatives TruePositives"),
    *_dotted("keras.activations", _KERAS_ACTIVATIONS),
    *_dotted("keras.losses", "circle cosine_similarity ctc dice huber log_cosh tversky "
            "categorical_generalized_cross_entropy"),
    *_dotted("keras.metrics", _KERAS_METRIC_FUNCTIONS),
])

#: Keras config markers for plain data, which build no object of the file's choosing.
_KERAS_DATA_MARKERS = frozenset(
    {"__keras_tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__", "__tensor__"}
)
#: Keras writes optimizers of the running backend under their backend module.
_KERAS_BACKEND_OPTIMIZER = re.compile(
    r"keras\.src\.backend\.(?:torch|jax|tensorflow|numpy|openvino)\.optimizers\.\w+"
)

#: skops loaders that build data or objects of the (checked) type they name.
_SKOPS_DATA_LOADERS = frozenset({
    "BytearrayNode", "BytesNode", "DTypeNode", "DefaultDictNode", "DictNode", "FunctionNode",
    "ListNode", "LossNode", "MaskedArrayNode", "NdArrayNode", "ObjectNode", "PartialNode",
    "RandomGeneratorNode", "RandomStateNode", "SetNode", "SliceNode", "TreeNode", "TupleNode",
    "TypeNode",
})
#: skops loaders that call what the file names with arguments from the file.
_SKOPS_CALLING_LOADERS = frozenset({"ConstructorFromReduceNode", "MethodNode", "OperatorFuncNode"})

#: awiml's own KerasClassifier builders, restored by name (no import of file-chosen code).
_AWIML_BUILDERS = ("awiml.classify.build_mlp", "awiml.classify.build_cnn")
