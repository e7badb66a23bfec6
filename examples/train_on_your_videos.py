"""Train the reference autoencoder on your own video files.

Put your videos in a folder like this (labels are optional; without them
you get per-frame anomaly scores but no AUC):

    my_videos/training/*.mp4          normal footage only
    my_videos/testing/*.mp4           footage to score
    my_videos/testing/labels/<name>.npy   one 0/1 per frame (1 = anomalous)

    python examples/train_on_your_videos.py --videos my_videos

Without --videos, the script writes such a folder from the built-in
synthetic set (needs PyAV: pip install "keras-constrict[video]").
"""

import argparse
import pathlib

from keras_constrict.runtime import configure_environment

configure_environment()

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_constrict  # noqa: E402
from keras_constrict.callbacks import AnomalyAUC  # noqa: E402
from keras_constrict.data import AnomalyVideoDataset  # noqa: E402
from keras_constrict.data import make_synthetic_dataset  # noqa: E402
from keras_constrict.data import read_video  # noqa: E402
from keras_constrict.data import write_video  # noqa: E402
from keras_constrict.models import conv3d_autoencoder  # noqa: E402
from keras_constrict.scoring import evaluate  # noqa: E402
from keras_constrict.scoring import frame_scores  # noqa: E402


def write_example_videos(root):
    """MP4 files in the layout above, made from the synthetic set."""
    frames_root = make_synthetic_dataset(root / "frames-source")
    for split in ("training", "testing"):
        for folder in sorted((frames_root / split / "frames").iterdir()):
            write_video(root / split / f"{folder.name}.mp4", read_video(folder))
    labels = root / "testing" / "labels"
    labels.mkdir(exist_ok=True)
    for label in (frames_root / "testing" / "labels").glob("*.npy"):
        np.save(labels / label.name, np.load(label))
    return root


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--videos", help="your folder of videos")
    parser.add_argument("--out", default="runs/example-videos")
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--clip-length", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    videos = args.videos or write_example_videos(out / "my_videos")

    dataset = AnomalyVideoDataset(videos, size=(args.size, args.size))
    print(dataset)
    model = conv3d_autoencoder(
        (args.clip_length, args.size, args.size, 1),
        width=0.25,
        constriction=keras_constrict.SphereConstriction(radius=4.0, weight=0.1),
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    labelled = any(v.labels is not None for v in dataset.testing_videos)
    callbacks = [keras.callbacks.TensorBoard(out / "logs")]
    if labelled:
        callbacks.insert(
            0,
            AnomalyAUC(
                dataset, clip_length=args.clip_length, log_dir=out / "logs"
            ),
        )
    model.fit(
        dataset.train_dataset(
            clip_length=args.clip_length, batch_size=8, cache="memory"
        ),
        epochs=args.epochs,
        callbacks=callbacks,
        verbose=2,
    )

    # Anomaly scores per frame, higher = more anomalous (NaN: unscored).
    for video in dataset.testing_videos:
        scores = frame_scores(
            model, dataset.frames(video), clip_length=args.clip_length
        )
        worst = int(np.nanargmax(scores))
        print(f"video {video.name}: most anomalous frame {worst}")
    if labelled:
        result = evaluate(model, dataset, clip_length=args.clip_length)
        print(f"micro AUC {result.micro_auc:.4f}")
        return result
    return None


if __name__ == "__main__":
    main()
