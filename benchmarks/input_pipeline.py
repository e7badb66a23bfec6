"""Input pipeline speed and memory: video_clips against raw decode loops.

For each decoder backend, the frames/s of `keras_constrict.data.video_clips`
(16-frame windows, stride 1, every window of every video) are measured
against a raw decode loop over the same files, interleaved repetition by
repetition so that both see the same machine load. frames/s counts decoded
frames (each frame is decoded once per pass, whatever the windows).

`video_clips` is consumed two ways: inside a tf.function (`reduce`), as
Keras' `fit` and `predict` consume a dataset, which gives the ratio; and
by a Python `for` loop over the clips, the "Python loop" columns, where
the loop's per-clip work shares the GIL with the PIL and PyAV decoders.

| backend | raw loop |
| --- | --- |
| tf   | tf.data, `tf.io.decode_jpeg` mapped in parallel, counted in-graph |
| pil  | a Python loop of `np.asarray(PIL.Image.open(...))`, grey already |
| pyav | a Python loop over PyAV frames, copying the luma plane |
| tfio | `tfio_read_video` of keras_constrict.data.tfio_backend |

Memory: peak resident memory of a fresh process that streams all clips of
one video, against the same for a video ten times longer (the frames
looped ten times); the goal is a growth under 10 %.

Usage:

    .venv/bin/python benchmarks/input_pipeline.py            # Ped2 test set
    .venv/bin/python benchmarks/input_pipeline.py --quick    # ~1 minute

Without ../shared/data/ped2 (or `--data`), a synthetic set of 240 x 360
frames is written to a temporary folder and used instead.
"""

from keras_constrict.runtime import configure_environment

configure_environment()

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

PED2 = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "ped2"


# Each raw_* builds what it needs once and returns one decoding pass.


def raw_tf(folders):
    import tensorflow as tf

    files = [str(f) for folder in folders for f in sorted(folder.iterdir())]
    dataset = tf.data.Dataset.from_tensor_slices(files).map(
        lambda path: tf.io.decode_jpeg(
            tf.io.read_file(path), channels=1, dct_method="INTEGER_ACCURATE"
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return _in_graph_count(dataset)


def raw_pil(folders):
    return lambda: _pil_pass(folders)


def _pil_pass(folders):
    from PIL import Image

    count = 0
    for folder in folders:
        for path in sorted(folder.iterdir()):
            with Image.open(path) as image:
                # Converted only if not grey already: converting to the
                # image's own mode copies it, and NumPy's copy of that
                # copy costs 0.15 ms per Ped2 frame (read_image_pil skips
                # it too).
                if image.mode != "L":
                    image = image.convert("L")
                np.asarray(image)
            count += 1
    return count


def raw_pyav(files):
    return lambda: _pyav_pass(files)


def _pyav_pass(files):
    import av

    count = 0
    for path in files:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                plane = frame.planes[0]
                rows = np.frombuffer(plane, np.uint8).reshape(plane.height, -1)
                rows[:, : frame.width].copy()
                count += 1
    return count


def raw_tfio(files):
    from keras_constrict.data import tfio_backend

    return lambda: sum(
        len(tfio_backend.tfio_read_video(path)) for path in files
    )


def _in_graph_count(dataset):
    """A pass that counts the elements inside a tf.function.

    This is how Keras consumes a dataset (`fit`, `predict` and `evaluate`
    take each batch from the iterator inside their traced step), with no
    Python work per element.
    """
    import tensorflow as tf

    count = tf.function(lambda: dataset.reduce(0, lambda total, _: total + 1))
    return lambda: int(count())


def timed(function):
    """Wall and CPU seconds of one call (CPU: all threads of the process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = function()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def speed_table(root, video_names, repeats, sizes, only=None):
    from keras_constrict.data import backends
    from keras_constrict.data import video_clips

    folders = [root / "testing" / "frames" / name for name in video_names]
    files = [
        root / "videos" / "testing" / f"{name}.mp4" for name in video_names
    ]
    frames = sum(len(list(folder.iterdir())) for folder in folders)
    cases = [("tf", folders, raw_tf), ("pil", folders, raw_pil)]
    cases.append(("pyav", files, raw_pyav))
    tfio_reason = backends.unavailable_reason("tfio")
    if tfio_reason is None:
        cases.append(("tfio", files, raw_tfio))
    rows = []
    for backend, paths, raw in cases:
        if backends.unavailable_reason(backend):
            continue
        if only and backend not in only:
            continue
        for size in sizes:
            # Built once, as for training epochs; one untimed pass each
            # warms caches and traces functions.
            dataset = video_clips(
                paths, clip_length=16, size=size, backend=backend
            )

            def python_pass(dataset=dataset):
                return sum(1 for _ in dataset)

            graph_pass = _in_graph_count(dataset)
            raw_pass = raw(paths)
            raw_pass()
            graph_pass()
            python_pass()
            rounds = []
            for _ in range(repeats):
                count, raw_wall, raw_cpu = timed(raw_pass)
                assert count == frames, (backend, count, frames)
                clips = frames - 15 * len(paths)
                count, wall, cpu = timed(graph_pass)
                assert count == clips, (backend, count, clips)
                count, py_wall, py_cpu = timed(python_pass)
                assert count == clips, (backend, count, clips)
                rounds.append((raw_wall, wall, py_wall, raw_cpu, cpu, py_cpu))
            rounds = np.array(rounds)
            raw_wall, wall, py_wall, raw_cpu, cpu, py_cpu = np.median(
                rounds, axis=0
            )

            def ratio(top, bottom, rounds=rounds):
                # Median over back-to-back rounds: each round's passes see
                # about the same load from other processes.
                return float(np.median(rounds[:, top] / rounds[:, bottom]))

            rows.append(
                {
                    "backend": backend,
                    "size": "native"
                    if size is None
                    else f"{size[0]}x{size[1]}",
                    "frames": frames,
                    "raw_fps": frames / raw_wall,
                    "video_clips_fps": frames / wall,
                    "ratio": ratio(0, 1),
                    # CPU seconds of raw over video_clips: steadier than
                    # wall time on 2 cores.
                    "cpu_ratio": ratio(3, 4),
                    "raw_cpu_ms_per_frame": 1000 * raw_cpu / frames,
                    "video_clips_cpu_ms_per_frame": 1000 * cpu / frames,
                    "python_loop_fps": frames / py_wall,
                    "python_loop_ratio": ratio(0, 2),
                    "python_loop_cpu_ms_per_frame": 1000 * py_cpu / frames,
                }
            )
    return rows, tfio_reason


def _resident_mb():
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def _memory_child(path, backend, size):
    """Stream every clip of one video; report resident memory (a child).

    `before` is the resident memory once the pipeline is built, `peak` the
    largest value sampled at every clip while streaming.
    """
    from keras_constrict.data import video_clips

    dataset = video_clips(
        [pathlib.Path(path)],
        clip_length=16,
        size=tuple(size) if size else None,
        backend=backend,
    )
    before = _resident_mb()
    peak, count = before, 0
    for _ in dataset:
        count += 1
        peak = max(peak, _resident_mb())
    print(json.dumps({"clips": count, "before_mb": before, "peak_mb": peak}))


def make_long_videos(root, name, work, times):
    """The frames of one video looped `times` times, as frames and MP4."""
    import av

    from keras_constrict.data import write_video

    folder = root / "testing" / "frames" / name
    files = sorted(folder.iterdir())
    long_folder = work / f"frames_x{times}"
    long_folder.mkdir()
    for loop in range(times):
        for index, path in enumerate(files):
            target = long_folder / f"{loop * len(files) + index:06d}.jpg"
            target.symlink_to(path.resolve())
    long_mp4 = work / f"video_x{times}.mp4"
    source = root / "videos" / "testing" / f"{name}.mp4"
    with av.open(str(source)) as container:
        frames = [
            f.to_ndarray(format="gray") for f in container.decode(video=0)
        ]
    write_video(
        long_mp4, frames * times, fps=10, codec_options={"preset": "ultrafast"}
    )
    return long_folder, long_mp4


def memory_table(root, name, size, times=10):
    rows = []
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        long_folder, long_mp4 = make_long_videos(root, name, work, times)
        short_folder = root / "testing" / "frames" / name
        short_mp4 = root / "videos" / "testing" / f"{name}.mp4"
        for backend, short, long in (
            ("tf", short_folder, long_folder),
            ("pyav", short_mp4, long_mp4),
        ):
            peaks = []
            for path in (short, long):
                output = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--memory-child",
                        json.dumps([str(path), backend, size]),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                peaks.append(json.loads(output.strip().splitlines()[-1]))
            rows.append(
                {
                    "backend": backend,
                    "before_mb": peaks[0]["before_mb"],
                    "short_clips": peaks[0]["clips"],
                    "long_clips": peaks[1]["clips"],
                    "short_peak_mb": peaks[0]["peak_mb"],
                    "long_peak_mb": peaks[1]["peak_mb"],
                    "growth": peaks[1]["peak_mb"] / peaks[0]["peak_mb"] - 1,
                }
            )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=pathlib.Path, default=PED2)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="2 videos, 3 repeats, native and 64 x 64 only",
    )
    parser.add_argument("--json", type=pathlib.Path, help="write rows here")
    parser.add_argument(
        "--backends",
        help="comma-separated backends to time (default: all that load)",
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the memory table"
    )
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        _memory_child(*json.loads(args.memory_child))
        return

    temporary = None
    root = args.data
    if not (root / "testing" / "frames").is_dir():
        temporary = tempfile.TemporaryDirectory()
        root = _synthetic_with_videos(pathlib.Path(temporary.name))
    names = sorted(p.name for p in (root / "testing" / "frames").iterdir())
    if args.quick:
        names = names[:2]
    repeats = 3 if args.quick else 7
    sizes = [None, (64, 64)] if args.quick else [None, (256, 256), (64, 64)]

    only = args.backends.split(",") if args.backends else None
    rows, tfio_reason = speed_table(root, names, repeats, sizes, only)
    print(
        f"\n{len(names)} test videos of {root}, 16-frame windows, stride 1; "
        f"medians of {repeats} interleaved pairs"
    )
    print(
        "| backend | size | frames | raw frames/s | video_clips frames/s | "
        "ratio | CPU ms/frame raw | CPU ms/frame video_clips | CPU ratio | "
        "Python loop frames/s | Python loop ratio |"
    )
    print("| --- " * 11 + "|")
    for row in rows:
        print(
            f"| {row['backend']} | {row['size']} | {row['frames']} | "
            f"{row['raw_fps']:.0f} | {row['video_clips_fps']:.0f} | "
            f"{row['ratio']:.2f} | {row['raw_cpu_ms_per_frame']:.2f} | "
            f"{row['video_clips_cpu_ms_per_frame']:.2f} | "
            f"{row['cpu_ratio']:.2f} | {row['python_loop_fps']:.0f} | "
            f"{row['python_loop_ratio']:.2f} |"
        )
    if tfio_reason:
        print(f"\ntfio not measured: {tfio_reason}")

    memory = [] if args.no_memory else memory_table(root, names[0], [256, 256])
    if memory:
        print_memory(memory)
    if args.json:
        args.json.write_text(json.dumps({"speed": rows, "memory": memory}))
    if temporary is not None:
        temporary.cleanup()


def print_memory(memory):
    print(
        "\nresident memory (MB) streaming every clip (256 x 256) of one "
        "video, and of the same frames looped x10"
    )
    print("| backend | built | clips | peak | clips x10 | peak x10 | growth |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for row in memory:
        print(
            f"| {row['backend']} | {row['before_mb']:.0f} | "
            f"{row['short_clips']} | {row['short_peak_mb']:.0f} | "
            f"{row['long_clips']} | {row['long_peak_mb']:.0f} | "
            f"{100 * row['growth']:+.1f} % |"
        )


def _synthetic_with_videos(work):
    """A Ped2-sized synthetic set with MP4 copies of its test videos."""
    from keras_constrict.data import make_synthetic_dataset
    from keras_constrict.data import read_video
    from keras_constrict.data import write_video

    root = make_synthetic_dataset(
        work / "synthetic",
        frame_size=(240, 360),
        num_training_videos=0,
        num_testing_videos=3,
        num_frames=120,
    )
    for folder in sorted((root / "testing" / "frames").iterdir()):
        frames = list(read_video(folder)[..., 0])
        write_video(
            root / "videos" / "testing" / f"{folder.name}.mp4", frames, fps=10
        )
    return root


if __name__ == "__main__":
    main()
