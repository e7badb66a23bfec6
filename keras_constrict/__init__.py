"""Latent-space constriction for anomaly detection autoencoders.

keras_constrict adds the constriction penalties of Astrid, Zaheer and Lee
(2024) to Keras 3 models trained on normal data only, scores frames with
the published PSNR protocol and reads video datasets through `tf.data`.

Nothing heavy is imported by `import keras_constrict`: every public name
is loaded on first use. This keeps the command line able to switch on
TensorFlow's oneDNN kernels before TensorFlow is imported, and keeps the
optional video and plotting dependencies optional.

Public names:

- `constriction_penalty`, `SphereConstriction`, `SurfaceConstriction`
- `constrict`, `calibrate_radius`, `latent_norms`
- submodules `losses`, `regularizers`, `data`, `scoring`, `callbacks`,
  `models`
"""

import importlib

__version__ = "0.1.0"

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
