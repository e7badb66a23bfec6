"""Decoding speed of backend="tfio" against PyAV, and the cost of isolation.

tensorflow-io mishandles Ped2's 360-pixel width (see docs/tfio.md), so the
Ped2 test videos are first cropped to 352 x 240 (a multiple of 16) and
re-encoded with PyAV (H.264, yuv420p, CRF 18); without Ped2, synthetic
352 x 240 videos of the same length are written. All rows read the same
files, repetition by repetition in turn, and count grayscale frames/s:

| row | what |
| --- | --- |
| pyav raw | a Python loop over PyAV frames, copying the luma plane |
| pyav read_video | `read_video(path, backend="pyav")` |
| tfio in-process | `tfio.IODataset.from_ffmpeg` iterated in this process |
| tfio read_video | `read_video(path, backend="tfio")`: child process + pipe |
| tfio frame_dataset | `tfio_frame_dataset` iterated (child process + pipe) |
| tfio video_clips | `video_clips(..., size=(256, 256), backend="tfio")` |
| pyav video_clips | the same with `backend="pyav"` |

"tfio in-process" has no crash protection (safe here only because every
width is a multiple of 16); it shows what the child process costs.

Run it in the tensorflow-io lane environment:

    PYTHONPATH=. LD_LIBRARY_PATH=.cache/tfio/ffmpeg4 .venv-tfio/bin/python \\
        benchmarks/tfio_decode.py [--repeats 5] [--videos 12]
"""

from keras_constrict.runtime import configure_environment

configure_environment()

import argparse  # noqa: E402
import pathlib  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

PED2 = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "ped2"
WIDTH, HEIGHT = 352, 240


def crop_video(source, target):
    """Re-encode `source` cropped to WIDTH x HEIGHT; returns frame count."""
    import av

    from keras_constrict.data import write_video

    with av.open(str(source)) as reader:
        images = (
            frame.to_ndarray(format="rgb24")[:HEIGHT, :WIDTH]
            for frame in reader.decode(video=0)
        )
        return write_video(target, images, codec_options={"crf": "18"})


def synthetic_video(target, frames, seed):
    from keras_constrict.data import write_video

    rng = np.random.default_rng(seed)
    background = rng.integers(60, 200, (HEIGHT, WIDTH)).astype(np.uint8)

    def images():
        for index in range(frames):
            image = background.copy()
            column = (index * 3) % (WIDTH - 20)
            image[100:140, column : column + 20] = 30
            yield image

    write_video(target, images(), codec_options={"crf": "18"})


def pyav_raw(files):
    # The raw loop of input_pipeline.py, which lies beside this script.
    from input_pipeline import _pyav_pass

    return _pyav_pass(files)


def tfio_in_process(files):
    import tensorflow as tf
    import tensorflow_io as tfio

    count = 0
    for path in files:
        dataset = tfio.IODataset.from_ffmpeg(str(path), "v:0").map(
            lambda frame: tf.image.rgb_to_grayscale(frame)
        )
        count += sum(1 for _ in dataset)
    return count


def read_video_with(backend):
    def run(files):
        from keras_constrict.data import read_video

        return sum(len(read_video(path, backend=backend)) for path in files)

    return run


def tfio_frame_dataset(files):
    from keras_constrict.data import tfio_backend

    return sum(
        sum(1 for _ in tfio_backend.tfio_frame_dataset(path)) for path in files
    )


def clips_with(backend):
    def run(files):
        from keras_constrict.data import video_clips

        dataset = video_clips(files, size=(256, 256), backend=backend)
        clips = sum(1 for _ in dataset.prefetch(2))
        return clips + 15 * len(files)  # frames, as every frame is decoded

    return run


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--videos", type=int, default=12)
    arguments = parser.parse_args()

    from keras_constrict.data import tfio_backend

    reason = tfio_backend.tfio_unavailable_reason()
    if reason is not None:
        raise SystemExit(f"tfio backend unavailable: {reason}")
    with tempfile.TemporaryDirectory() as folder:
        files = []
        sources = sorted((PED2 / "videos" / "testing").glob("*.mp4"))
        started = time.perf_counter()
        for index in range(arguments.videos):
            target = pathlib.Path(folder) / f"{index + 1:02d}.mp4"
            if sources:
                crop_video(sources[index % len(sources)], target)
            else:
                synthetic_video(target, 180, index)
            files.append(target)
        source = "Ped2 test videos cropped" if sources else "synthetic"
        print(
            f"{len(files)} videos ({source}, {WIDTH}x{HEIGHT}) written in "
            f"{time.perf_counter() - started:.0f} s"
        )
        rows = {
            "pyav raw": pyav_raw,
            "pyav read_video": read_video_with("pyav"),
            "tfio in-process": tfio_in_process,
            "tfio read_video": read_video_with("tfio"),
            "tfio frame_dataset": tfio_frame_dataset,
            "pyav video_clips": clips_with("pyav"),
            "tfio video_clips": clips_with("tfio"),
        }
        expected = pyav_raw(files)
        for run in rows.values():  # untimed: warm caches, start the child
            assert run(files) == expected
        times = {name: [] for name in rows}
        for _ in range(arguments.repeats):
            for name, run in rows.items():
                started = time.perf_counter()
                run(files)
                times[name].append(time.perf_counter() - started)
    reference = expected / np.median(times["pyav raw"])
    print(f"\n{expected} frames, median of {arguments.repeats} repeats\n")
    print("| path | frames/s | vs pyav raw |")
    print("| --- | --- | --- |")
    for name, seconds in times.items():
        fps = expected / np.median(seconds)
        print(f"| {name} | {fps:.0f} | {fps / reference:.2f} |")


if __name__ == "__main__":
    main()
