"""Probe which frame widths tensorflow-io decodes correctly.

Writes a short H.264 video per width with PyAV, decodes it with
`tfio_read_video` (in its child process, with the unsafe-width refusal
switched off) and compares the RGB frames with PyAV's decode of the same
file. Prints one line per width: `ok` (equal), `differs` (max difference)
or `crash` (the decoder process died, with its last message).

Run it in the tensorflow-io lane environment, e.g.

    LD_LIBRARY_PATH=.cache/tfio/ffmpeg4 .venv-tfio/bin/python \
        scripts/tfio_width_sweep.py --widths 16:1025:2 --heights 240
"""

import argparse
import pathlib
import tempfile
import time

from keras_constrict.runtime import configure_environment

configure_environment()

import av  # noqa: E402
import numpy as np  # noqa: E402

from keras_constrict import data  # noqa: E402
from keras_constrict.data import tfio_backend  # noqa: E402


def write_video(path, width, height, frames=6):
    """An H.264 yuv420p video of moving colour ramps."""
    rows, columns = np.mgrid[0:height, 0:width]
    images = (
        np.stack(
            [
                (columns * 3 + index * 5) % 256,
                (rows * 2 + index * 7) % 256,
                (columns + rows + index * 11) % 256,
            ],
            axis=-1,
        ).astype(np.uint8)
        for index in range(frames)
    )
    data.write_video(path, images)


def pyav_rgb(path):
    with av.open(str(path)) as container:
        return np.stack(
            [
                frame.to_ndarray(format="rgb24")
                for frame in container.decode(video=0)
            ]
        )


def parse_sizes(text):
    """`start:stop:step` (a range) or `a,b,c` (a list) of sizes."""
    if ":" in text:
        start, stop, step = (int(part) for part in text.split(":"))
        return list(range(start, stop, step))
    return [int(part) for part in text.split(",")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", type=parse_sizes, default="16:1025:2")
    parser.add_argument("--heights", type=parse_sizes, default="240")
    arguments = parser.parse_args()
    tfio_backend.SAFE_WIDTH_REMAINDERS = tuple(
        range(tfio_backend.WIDTH_MODULUS)
    )
    reason = tfio_backend.tfio_unavailable_reason()
    if reason is not None:
        raise SystemExit(reason)
    counts = {"ok": 0, "differs": 0, "crash": 0}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        sizes = [(w, h) for h in arguments.heights for w in arguments.widths]
        for width, height in sizes:
            path = pathlib.Path(folder) / f"{width}x{height}.mp4"
            write_video(path, width, height)
            try:
                frames = tfio_backend.tfio_read_video(path, grayscale=False)
            except tfio_backend.TfioDecoderCrashError as error:
                last = str(error).rsplit("Last decoder message: ", 1)[-1]
                result = f"crash {last}"
                counts["crash"] += 1
            else:
                expected = pyav_rgb(path)
                if frames.shape == expected.shape and np.array_equal(
                    frames, expected
                ):
                    result = "ok"
                    counts["ok"] += 1
                else:
                    difference = (
                        np.abs(frames.astype(int) - expected).max()
                        if frames.shape == expected.shape
                        else f"shape {frames.shape} vs {expected.shape}"
                    )
                    result = f"differs {difference}"
                    counts["differs"] += 1
            print(f"{width}x{height} {result}", flush=True)
            path.unlink()
    elapsed = time.perf_counter() - started
    print(f"summary {counts} in {elapsed:.0f} s")


if __name__ == "__main__":
    main()
