"""A small Ped2-like video anomaly set, generated offline in seconds.

A fixed camera looks at a textured walkway under slowly changing light,
now and then crossed by a cloud shadow. In every video, three to six
walkers of varied size and contrast cross it slowly, up or down, and
sometimes stop. The test videos also hold one anomalous event for part
of their length:

- `"fast"`: a cyclist-like object crossing about four times faster than
  a walker;
- `"large"`: a cart about two and a half times a walker's width, at
  walking speed;
- `"wrong_direction"`: a walker crossing sideways instead of up or down.

A frame is labelled anomalous (1) while at least a quarter of the event's
object is in view. The sideways walker looks like any other walker, and
low-contrast walkers, stops, shadows and light changes vary the normal
frames, so a plain autoencoder does not separate every anomalous frame
(see docs/data.md for measured AUCs).

The set is written in the layout of `AnomalyVideoDataset`, the same as
UCSD Ped2: `{training,testing}/frames/NN/NNN.jpg` (8-bit grayscale JPEG,
0-based frame numbers) and `testing/labels/NN.npy` (uint8, one per frame),
plus `synthetic.json` with the arguments that made it.
"""

import json
import logging
import pathlib
import shutil

import numpy as np

logger = logging.getLogger(__name__)

ANOMALY_KINDS = ("fast", "large", "wrong_direction")
_MANIFEST = "synthetic.json"
_VERSION = 1

# Sizes and speeds relative to a 64-pixel-high frame; scaled with it.
_WALKER_HALF_WIDTH = 1.4
_WALKER_HALF_HEIGHT = 3.4
_WALK_SPEED = (0.25, 0.6)
_FAST_SPEED = (1.4, 2.2)
_CART_HALF_WIDTH = 3.6
_CART_HALF_HEIGHT = 3.2


def _smooth_noise(rng, height, width, cells):
    """Bilinearly upsampled random grid: smooth texture in [0, 1]."""
    grid = rng.random((cells + 1, cells + 1))
    rows = np.linspace(0, cells, height)
    cols = np.linspace(0, cells, width)
    row0 = np.minimum(rows.astype(int), cells - 1)
    col0 = np.minimum(cols.astype(int), cells - 1)
    row_frac = (rows - row0)[:, None]
    col_frac = (cols - col0)[None, :]
    top = grid[row0][:, col0] * (1 - col_frac) + grid[row0][:, col0 + 1] * (
        col_frac
    )
    bottom = (
        grid[row0 + 1][:, col0] * (1 - col_frac)
        + grid[row0 + 1][:, col0 + 1] * col_frac
    )
    return top * (1 - row_frac) + bottom * row_frac


def _background(rng, height, width):
    """A textured walkway between darker, grassy borders."""
    scale = height / 64.0
    texture = (
        40.0 * _smooth_noise(rng, height, width, 4)
        + 18.0 * _smooth_noise(rng, height, width, 16)
        + 6.0 * rng.standard_normal((height, width))
    )
    cols = np.arange(width)
    left = width * rng.uniform(0.2, 0.3)
    right = width * rng.uniform(0.7, 0.8)
    walkway = 1.0 / (1.0 + np.exp(-(cols - left) / (1.5 * scale)))
    walkway *= 1.0 / (1.0 + np.exp((cols - right) / (1.5 * scale)))
    # Paving joints: faint horizontal lines across the walkway.
    rows = np.arange(height)[:, None]
    joints = (rows % max(int(8 * scale), 3) == 0) * walkway * -12.0
    image = 80.0 + texture + 55.0 * walkway[None, :] + joints
    # A few static objects (benches, lamp posts) on the borders.
    for _ in range(3):
        top = int(rng.uniform(0.05, 0.85) * height)
        side = rng.choice([rng.uniform(0, left - 4), rng.uniform(right, width)])
        obj_h = int(rng.uniform(3, 7) * scale) + 1
        obj_w = int(rng.uniform(2, 5) * scale) + 1
        image[top : top + obj_h, int(side) : int(side) + obj_w] = rng.uniform(
            30, 70
        )
    return image, (left, right)


def _blob(height, width, center_y, center_x, half_h, half_w, rectangle=False):
    """Soft-edged ellipse or rectangle coverage in [0, 1] (anti-aliased)."""
    rows = (np.arange(height)[:, None] - center_y) / half_h
    cols = (np.arange(width)[None, :] - center_x) / half_w
    if rectangle:
        distance = np.maximum(np.abs(rows), np.abs(cols))
    else:
        distance = np.sqrt(rows**2 + cols**2)
    edge = 1.0 / min(half_h, half_w)
    return np.clip((1.0 - distance) / edge + 0.5, 0.0, 1.0)


class _Mover:
    """An object crossing the frame in a straight line."""

    def __init__(self, y, x, velocity_y, velocity_x, half_h, half_w, shade):
        self.y, self.x = y, x
        self.velocity_y, self.velocity_x = velocity_y, velocity_x
        self.half_h, self.half_w = half_h, half_w
        self.shade = shade
        self.rectangle = False
        self.gait_phase = 0.0
        self.paused = 0

    @property
    def area(self):
        """Pixels the object covers when wholly in view."""
        if self.rectangle:
            return 4.0 * self.half_h * self.half_w
        return np.pi * self.half_h * self.half_w

    def step(self):
        if self.paused:
            self.paused -= 1
            return
        self.y += self.velocity_y
        self.x += self.velocity_x
        self.gait_phase += 0.8

    def coverage(self, height, width):
        # Walkers' outlines breathe with their gait.
        swing = 1.0 + 0.15 * np.sin(self.gait_phase)
        return _blob(
            height,
            width,
            self.y,
            self.x,
            self.half_h,
            self.half_w * swing,
            self.rectangle,
        )

    def gone(self, height, width):
        margin = 2 * max(self.half_h, self.half_w)
        return not (
            -margin <= self.y <= height + margin
            and -margin <= self.x <= width + margin
        )


def _new_walker(rng, height, width, walkway, scale, enter=True):
    left, right = walkway
    half_h = _WALKER_HALF_HEIGHT * scale * rng.uniform(0.8, 1.25)
    half_w = _WALKER_HALF_WIDTH * scale * rng.uniform(0.8, 1.25)
    speed = rng.uniform(*_WALK_SPEED) * scale
    down = rng.random() < 0.5
    if enter:
        y = -half_h if down else height + half_h
    else:
        y = rng.uniform(0, height)
    x = rng.uniform(left + half_w, right - half_w)
    # Dark, light or low-contrast clothes.
    shade = rng.choice(
        [rng.uniform(20, 70), rng.uniform(180, 235), rng.uniform(90, 150)]
    )
    return _Mover(
        y,
        x,
        speed if down else -speed,
        rng.normal(0, 0.03) * scale,
        half_h,
        half_w,
        shade,
    )


def _new_anomaly(kind, rng, height, width, walkway, scale):
    left, right = walkway
    down = rng.random() < 0.5
    x = rng.uniform(left + 3 * scale, right - 3 * scale)
    if kind in ("fast", "large"):
        # A walker-sized object at a run, or a cart at a walk, entering at
        # the top or the bottom of the frame.
        if kind == "fast":
            half_h = _WALKER_HALF_HEIGHT * scale * 1.1
            half_w = _WALKER_HALF_WIDTH * scale * 1.1
            speed = rng.uniform(*_FAST_SPEED) * scale
            shade = rng.choice([rng.uniform(20, 70), rng.uniform(180, 235)])
        else:
            half_h = _CART_HALF_HEIGHT * scale
            half_w = _CART_HALF_WIDTH * scale
            speed = rng.uniform(*_WALK_SPEED) * scale * 1.3
            shade = rng.uniform(40, 90)
        mover = _Mover(
            -half_h if down else height + half_h,
            x,
            speed if down else -speed,
            0.0,
            half_h,
            half_w,
            shade,
        )
        mover.rectangle = kind == "large"
    elif kind == "wrong_direction":
        walker = _new_walker(rng, height, width, walkway, scale)
        speed = rng.uniform(*_WALK_SPEED) * scale * 1.2
        rightward = rng.random() < 0.5
        walker.y = rng.uniform(0.2, 0.8) * height
        walker.x = -walker.half_w if rightward else width + walker.half_w
        walker.velocity_x = speed if rightward else -speed
        walker.velocity_y = 0.0
        mover = walker
    else:
        raise ValueError(
            f"Unknown anomaly kind. Expected one of {ANOMALY_KINDS}. "
            f"Received: kind={kind!r}"
        )
    return mover


def _render_video(rng, background, walkway, num_frames, anomaly_kind):
    """Frames (uint8) and per-frame labels of one video."""
    height, width = background.shape
    scale = height / 64.0
    walkers = [
        _new_walker(rng, height, width, walkway, scale, enter=False)
        for _ in range(rng.integers(3, 6))
    ]
    drift = rng.uniform(3.0, 8.0)
    period = rng.uniform(40.0, 90.0)
    phase = rng.uniform(0.0, 2 * np.pi)
    shadow = None
    if rng.random() < 0.5:
        shadow = _Mover(
            rng.uniform(0, height),
            rng.uniform(-0.5, 0.0) * width,
            rng.normal(0, 0.1) * scale,
            rng.uniform(0.3, 0.6) * scale,
            rng.uniform(10, 16) * scale,
            rng.uniform(12, 20) * scale,
            0.0,
        )
    anomaly = None
    anomaly_start = num_frames
    if anomaly_kind is not None:
        anomaly_start = int(rng.uniform(0.15, 0.45) * num_frames)
    frames = np.empty((num_frames, height, width), np.uint8)
    labels = np.zeros(num_frames, np.uint8)
    for index in range(num_frames):
        if index == anomaly_start:
            anomaly = _new_anomaly(
                anomaly_kind, rng, height, width, walkway, scale
            )
        # Walkers now and then stop for a while.
        for walker in walkers:
            if not walker.paused and rng.random() < 0.01:
                walker.paused = int(rng.integers(5, 20))
        # Keep three to six walkers in view.
        walkers = [w for w in walkers if not w.gone(height, width)]
        while len(walkers) < 3 or (len(walkers) < 6 and rng.random() < 0.05):
            walkers.append(_new_walker(rng, height, width, walkway, scale))
        # Slow illumination drift, a drifting cloud shadow and flicker.
        light = drift * np.sin(2 * np.pi * index / period + phase)
        image = background + light + rng.normal(0.0, 2.0)
        if shadow is not None:
            image -= 18.0 * shadow.coverage(height, width)
            shadow.step()
        for mover in walkers + ([anomaly] if anomaly is not None else []):
            cover = mover.coverage(height, width)
            image = image * (1 - cover) + mover.shade * cover
            if mover is anomaly:
                labels[index] = cover.sum() >= 0.25 * mover.area
            mover.step()
        if anomaly is not None and anomaly.gone(height, width):
            anomaly = None
        image += rng.normal(0.0, 3.0, image.shape)  # sensor noise
        frames[index] = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return frames, labels


def make_synthetic_dataset(
    root,
    seed=0,
    frame_size=(64, 64),
    num_training_videos=4,
    num_testing_videos=6,
    num_frames=64,
    anomaly_kinds=ANOMALY_KINDS,
    jpeg_quality=90,
):
    """Write a small Ped2-like anomaly set of JPEG frames and labels.

    Training videos hold only walkers crossing up or down a walkway; each
    test video adds one anomalous event (kinds taken in turn from
    `anomaly_kinds`) and labels its frames (1 = anomalous). The same
    arguments always write the same files. With the defaults it takes
    under a second (640 JPEG files of about 1.5 kB).

    Calling it again on a root it already filled with the same arguments
    returns at once; a root it filled with other arguments is rewritten.
    A non-empty root it did not write is left alone (an error).

    Args:
        root: folder to write into; created if missing.
        seed: random seed of scene, walkers and anomalies. Defaults to 0.
        frame_size: `(height, width)` of the frames. Defaults to
            `(64, 64)`.
        num_training_videos: normal videos. Defaults to 4.
        num_testing_videos: test videos, each with one anomalous event.
            Defaults to 6.
        num_frames: frames per video. Defaults to 64.
        anomaly_kinds: kinds of events, used in turn: `"fast"`,
            `"large"`, `"wrong_direction"`. Defaults to all three.
        jpeg_quality: JPEG quality of the frames. Defaults to 90.

    Returns:
        pathlib.Path: `root`, ready for `AnomalyVideoDataset(root)`.

    Raises:
        ValueError: for a bad argument.
        FileExistsError: if `root` holds files this function did not write.

    Example:

    >>> root = make_synthetic_dataset("/tmp/synthetic")
    >>> dataset = AnomalyVideoDataset(root, size=(64, 64))
    """
    import tensorflow as tf

    height, width = frame_size
    if min(height, width) < 16:
        raise ValueError(
            f"Expected frame_size of at least (16, 16). Received: "
            f"frame_size={frame_size!r}"
        )
    if num_frames < 2 or num_training_videos < 0 or num_testing_videos < 0:
        raise ValueError(
            f"Expected num_frames >= 2 and non-negative video counts. "
            f"Received: num_frames={num_frames}, num_training_videos="
            f"{num_training_videos}, num_testing_videos={num_testing_videos}"
        )
    for kind in anomaly_kinds:
        if kind not in ANOMALY_KINDS:
            raise ValueError(
                f"Unknown anomaly kind. Expected kinds from {ANOMALY_KINDS}. "
                f"Received: anomaly_kinds={anomaly_kinds!r}"
            )
    arguments = {
        "version": _VERSION,
        "seed": int(seed),
        "frame_size": [int(height), int(width)],
        "num_training_videos": int(num_training_videos),
        "num_testing_videos": int(num_testing_videos),
        "num_frames": int(num_frames),
        "anomaly_kinds": list(anomaly_kinds),
        "jpeg_quality": int(jpeg_quality),
    }
    root = pathlib.Path(root)
    manifest = root / _MANIFEST
    if manifest.is_file():
        if json.loads(manifest.read_text()).get("arguments") == arguments:
            return root
        for split in ("training", "testing"):
            shutil.rmtree(root / split, ignore_errors=True)
        manifest.unlink()
    elif root.is_dir() and any(root.iterdir()):
        raise FileExistsError(
            f"make_synthetic_dataset writes into an empty folder or one it "
            f"filled before (with {_MANIFEST}). Received: root={str(root)!r},"
            f" which holds other files"
        )

    scene_rng = np.random.default_rng([seed, 0])
    background, walkway = _background(scene_rng, height, width)
    digits = max(3, len(str(num_frames - 1)))
    video_digits = max(
        2, len(str(max(num_training_videos, num_testing_videos)))
    )
    summary = {"training": {}, "testing": {}}
    for split, count, split_id in (
        ("training", num_training_videos, 1),
        ("testing", num_testing_videos, 2),
    ):
        for index in range(count):
            name = f"{index + 1:0{video_digits}d}"
            kind = None
            if split == "testing" and anomaly_kinds:
                kind = anomaly_kinds[index % len(anomaly_kinds)]
            rng = np.random.default_rng([seed, split_id, index])
            frames, labels = _render_video(
                rng, background, walkway, num_frames, kind
            )
            folder = root / split / "frames" / name
            folder.mkdir(parents=True, exist_ok=True)
            for number, frame in enumerate(frames):
                encoded = tf.io.encode_jpeg(
                    frame[:, :, None], quality=jpeg_quality
                )
                (folder / f"{number:0{digits}d}.jpg").write_bytes(
                    encoded.numpy()
                )
            summary[split][name] = {"frames": int(num_frames)}
            if split == "testing":
                labels_folder = root / "testing" / "labels"
                labels_folder.mkdir(parents=True, exist_ok=True)
                np.save(labels_folder / f"{name}.npy", labels)
                summary[split][name].update(
                    anomaly=kind, anomalous_frames=int(labels.sum())
                )
    manifest.write_text(
        json.dumps({"arguments": arguments, "videos": summary}, indent=1)
    )
    logger.info("Wrote a synthetic anomaly set to %s", root)
    return root
