"""Add latent constriction to a Keras autoencoder you already have.

Your autoencoder stays as it is: `keras_constrict.constrict` returns a copy
whose encoder output (here the layer "code" inside the nested "encoder")
is kept near a sphere while training. The radius comes from your normal
data after a short warm-up of the plain model.

    python examples/constrict_your_model.py                # synthetic set
    python examples/constrict_your_model.py --data ped2 --size 64
    tensorboard --logdir runs/example-constrict
"""

import argparse
import pathlib

from keras_constrict.runtime import configure_environment

configure_environment()

import keras  # noqa: E402

import keras_constrict  # noqa: E402
from keras_constrict.callbacks import AnomalyAUC  # noqa: E402
from keras_constrict.data import AnomalyVideoDataset  # noqa: E402
from keras_constrict.data import make_synthetic_dataset  # noqa: E402


def my_autoencoder(clip_length, size):
    """Stands for the model you already have: an encoder and a decoder."""
    encoder = keras.Sequential(
        [
            keras.Input((clip_length, size, size, 1)),
            keras.layers.Conv3D(16, 3, strides=(1, 2, 2), padding="same"),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Conv3D(32, 3, strides=2, padding="same"),
            keras.layers.LeakyReLU(0.2, name="code"),
        ],
        name="encoder",
    )
    decoder = keras.Sequential(
        [
            keras.Input(
                encoder.compute_output_shape(
                    (None, clip_length, size, size, 1)
                )[1:]
            ),
            keras.layers.Conv3DTranspose(16, 3, strides=2, padding="same"),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Conv3DTranspose(
                1, 3, strides=(1, 2, 2), padding="same", activation="tanh"
            ),
        ],
        name="decoder",
    )
    clips = keras.Input((clip_length, size, size, 1))
    return keras.Model(clips, decoder(encoder(clips)), name="my_autoencoder")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="dataset root; default: synthetic")
    parser.add_argument("--out", default="runs/example-constrict")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--clip-length", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)

    root = args.data or make_synthetic_dataset(out / "data")
    dataset = AnomalyVideoDataset(root, size=(args.size, args.size))
    train = dataset.train_dataset(
        clip_length=args.clip_length, batch_size=8, cache="memory", seed=0
    )

    # 1. Warm up your plain model for one epoch.
    model = my_autoencoder(args.clip_length, args.size)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(train, epochs=1, verbose=2)

    # 2. A radius from normal data: the median latent vector norm.
    normal_clips = train.map(lambda x, y: x).take(8)
    radius = keras_constrict.calibrate_radius(
        model, "encoder/code", normal_clips
    )
    print(f"radius from data: {radius:.3f}")

    # 3. A constricted copy, trained on; the warm-up weights carry over.
    constricted = keras_constrict.constrict(
        model, "encoder/code", kind="surface", radius=radius, weight=0.1
    )
    constricted.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    history = constricted.fit(
        train,
        epochs=args.epochs,
        verbose=2,
        callbacks=[
            # Scores the test videos every epoch: val_auc in the logs and
            # curves, norms and reconstructions in TensorBoard.
            AnomalyAUC(dataset, clip_length=args.clip_length, log_dir=out),
            keras.callbacks.TensorBoard(out),
        ],
    )
    print("frame-level AUC per epoch:", history.history["val_auc"])
    constricted.save(out / "constricted.keras")
    return history


if __name__ == "__main__":
    main()
