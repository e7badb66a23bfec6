"""Latent-space constriction for anomaly detection autoencoders.

keras_constrict adds the constriction penalties of Astrid, Zaheer and Lee
(2024) to Keras 3 models trained on normal data only, scores frames with
the published PSNR protocol and reads video datasets through `tf.data`.

`import keras_constrict` registers the serialisable classes (layers,
losses, regularizers) with Keras, so that a saved `.keras` model loads
without `custom_objects`; that imports Keras and TensorFlow. Just before,
unless TensorFlow is already imported or the variable is set, it switches
on TensorFlow's oneDNN kernels (`TF_ENABLE_ONEDNN_OPTS=1`), which made a
small 3D-conv training step 27x faster on the project's AMD CPU, where
TensorFlow leaves them off. Everything else (data, scoring, callbacks,
models, the optional video and plotting dependencies) loads on first use.

Public names:

- `constriction_penalty`, `SphereConstriction`, `SurfaceConstriction`
- `constrict`, `calibrate_radius`, `latent_norms`
- submodules `losses`, `regularizers`, `data`, `scoring`, `callbacks`,
  `models`
"""

import importlib
import os
import sys

__version__ = "0.1.0"

if "tensorflow" not in sys.modules:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

_PUBLIC_NAMES = {
    "constriction_penalty": "keras_constrict.penalty",
    "SphereConstriction": "keras_constrict.layers",
    "SurfaceConstriction": "keras_constrict.layers",
    "constrict": "keras_constrict.surgery",
    "calibrate_radius": "keras_constrict.surgery",
    "latent_norms": "keras_constrict.surgery",
}
_SUBMODULES = (
    "losses",
    "regularizers",
    "data",
    "scoring",
    "callbacks",
    "models",
)

__all__ = [*_PUBLIC_NAMES, *_SUBMODULES]


# Registers SphereConstriction, SurfaceConstriction and the loss and
# regularizer classes with Keras' serialisation registry.
from keras_constrict import layers as _layers  # noqa: E402, F401
from keras_constrict import losses  # noqa: E402, F401
from keras_constrict import regularizers  # noqa: E402, F401


def __getattr__(name):
    if name in _PUBLIC_NAMES:
        module = importlib.import_module(_PUBLIC_NAMES[name])
        value = getattr(module, name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"keras_constrict.{name}")
    else:
        raise AttributeError(
            f"module 'keras_constrict' has no attribute '{name}'"
        )
    globals()[name] = value
    return value


def __dir__():
    return sorted([*globals(), *__all__])
