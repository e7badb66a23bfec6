"""Video data for anomaly detection: readers, dataset layouts, a synthetic set.

- `read_video(path, ...)`: all frames of one video (a frame folder or a
  video file) as a uint8 array.
- `video_clips(videos, ...)`: a streaming `tf.data.Dataset` of float32
  clips, one per start frame, each frame decoded once per pass.
- `video_frames(video, ...)`: the frames of one video as tf.data.
- `AnomalyVideoDataset(root, ...)`: the training and test videos of a
  dataset on disk (Ped2, Avenue, ShanghaiTech layout, or video files),
  with per-frame labels and training and test pipelines.
- `Video`: one video of such a dataset.
- `make_synthetic_dataset(root, ...)`: a small Ped2-like set, offline.
- `write_video(path, frames, ...)`: frames to an H.264 file (PyAV).
- `BackendUnavailableError`, `VideoDecodeError`: the errors of decoders.

Decoders are chosen with `backend=` (see `keras_constrict.data.backends`).
PyAV and Pillow are optional: `pip install "keras-constrict[video]"`.
"""

from keras_constrict.data.backends import BACKENDS
from keras_constrict.data.backends import BackendUnavailableError
from keras_constrict.data.backends import VideoDecodeError
from keras_constrict.data.backends import write_video
from keras_constrict.data.layouts import AnomalyVideoDataset
from keras_constrict.data.layouts import Video
from keras_constrict.data.readers import read_video
from keras_constrict.data.readers import video_clips
from keras_constrict.data.readers import video_frames
from keras_constrict.data.synthetic import make_synthetic_dataset

__all__ = [
    "BACKENDS",
    "AnomalyVideoDataset",
    "BackendUnavailableError",
    "Video",
    "VideoDecodeError",
    "make_synthetic_dataset",
    "read_video",
    "video_clips",
    "video_frames",
    "write_video",
]
