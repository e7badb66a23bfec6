"""Frame scores and AUCs against an independent NumPy + scikit-learn
implementation of the published protocol (METHOD.md section 4)."""

import types

import keras
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from keras_constrict import scoring

SIZE = 16


def tiny_autoencoder(seed=0, size=SIZE):
    """Conv3D model accepting windows of any length, output = input shape."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, size, size, 1))
    x = keras.layers.Conv3D(4, 3, padding="same", activation="tanh")(inputs)
    outputs = keras.layers.Conv3D(1, 3, padding="same", activation="tanh")(x)
    return keras.Model(inputs, outputs)


def zero_model(size=SIZE):
    """Reconstructs every window as zeros: mse = mean of squared pixels."""
    inputs = keras.Input((None, size, size, 1))
    return keras.Model(inputs, keras.layers.Rescaling(0.0)(inputs))


def reference_psnr(model, frames, clip_length, index):
    """The protocol written out plainly, one window at a time."""
    windows = np.stack(
        [
            frames[start : start + clip_length]
            for start in range(len(frames) - clip_length + 1)
        ]
    )
    reconstructions = model.predict(windows, batch_size=8, verbose=0)
    psnr = np.full(len(frames), np.nan)
    for start in range(len(windows)):
        target = windows[start, index].astype("float64")
        error = reconstructions[start, index].astype("float64") - target
        psnr[start + index] = 10 * np.log10(1 / np.mean(error**2))
    return psnr


def reference_scores(psnr):
    scored = ~np.isnan(psnr)
    values = psnr[scored]
    normalcy = (values - values.min()) / (values.max() - values.min())
    scores = np.full(len(psnr), np.nan)
    scores[scored] = 1 - normalcy
    return scores


def rank_auc(labels, scores):
    """ROC AUC as the Mann-Whitney statistic, ties counted as one half."""
    labels = np.asarray(labels).astype(bool)
    positive = scores[labels][:, None]
    negative = scores[~labels][None, :]
    wins = (positive > negative).sum() + 0.5 * (positive == negative).sum()
    return wins / (positive.size * negative.size)


def random_video(num_frames, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, (num_frames, SIZE, SIZE, 1)).astype("float32")


class InMemoryDataset:
    """The duck-typed dataset interface: testing_videos and frames()."""

    def __init__(self, videos):
        self.testing_videos = [
            types.SimpleNamespace(
                name=name, labels=labels, num_frames=len(frames)
            )
            for name, (frames, labels) in videos.items()
        ]
        self._frames = {name: frames for name, (frames, _) in videos.items()}

    def frames(self, video):
        return self._frames[video.name]


@pytest.mark.parametrize(
    ("clip_length", "target", "expected"),
    [(16, "middle", 8), (16, "last", 15), (5, "middle", 2), (16, -1, 15)],
)
def test_target_index(clip_length, target, expected):
    assert scoring.target_index(clip_length, target) == expected


def test_target_index_rejects_unknown_target():
    with pytest.raises(ValueError) as info:
        scoring.target_index(16, "centre")
    assert str(info.value) == (
        "Argument `target` must be 'middle' (frame clip_length // 2 of each "
        "window, the published protocol), 'last' (frame clip_length - 1) or "
        "an int index in [-16, 16). Received: target='centre'"
    )


@pytest.mark.parametrize(
    ("clip_length", "target", "before", "after"),
    [(16, "middle", 8, 7), (8, "middle", 4, 3), (8, "last", 7, 0)],
)
def test_frame_scores_match_reference(clip_length, target, before, after):
    model = tiny_autoencoder()
    frames = random_video(40)
    index = scoring.target_index(clip_length, target)

    psnr = scoring.frame_psnr(model, frames, clip_length, target, batch_size=3)
    scores = scoring.frame_scores(model, frames, clip_length, target)

    expected_psnr = reference_psnr(model, frames, clip_length, index)
    np.testing.assert_allclose(psnr, expected_psnr, rtol=1e-5)
    np.testing.assert_allclose(
        scores, reference_scores(expected_psnr), atol=1e-5
    )
    assert np.isnan(scores[:before]).all()
    assert np.isnan(scores[len(frames) - after :]).all()
    assert not np.isnan(scores[before : len(frames) - after]).any()
    assert np.nanmin(scores) == 0.0 and np.nanmax(scores) == 1.0


def test_frame_scores_do_not_depend_on_batch_size():
    model = tiny_autoencoder()
    frames = random_video(30)
    results = [
        scoring.frame_scores(model, frames, 8, batch_size=size)
        for size in (1, 4, 64)
    ]
    for result in results[1:]:
        np.testing.assert_allclose(result, results[0], atol=1e-6)


def test_worse_reconstruction_means_higher_score():
    # The zero model's error is the frame's energy: louder = more anomalous.
    frames = np.stack(
        [np.full((SIZE, SIZE, 1), 0.1 * (i % 5 + 1)) for i in range(20)]
    ).astype("float32")
    scores = scoring.frame_scores(zero_model(), frames, clip_length=4)
    energy = np.array([0.1 * (i % 5 + 1) for i in range(20)])
    scored = ~np.isnan(scores)
    order = np.argsort(energy[scored], kind="stable")
    assert np.all(np.diff(scores[scored][order]) >= 0)
    assert scores[scored][energy[scored] == 0.5].min() == 1.0


def test_constant_psnr_gives_zero_scores_without_division_by_zero():
    frames = np.full((20, SIZE, SIZE, 1), 0.5, dtype="float32")
    with np.errstate(all="raise"):
        scores = scoring.frame_scores(zero_model(), frames, clip_length=8)
    assert np.isnan(scores[:4]).all() and np.isnan(scores[-3:]).all()
    np.testing.assert_array_equal(scores[4:-3], 0.0)


def test_single_window_and_too_short_videos():
    model = tiny_autoencoder()
    one_window = scoring.frame_scores(model, random_video(8), clip_length=8)
    assert np.isnan(np.delete(one_window, 4)).all()
    assert one_window[4] == 0.0
    too_short = scoring.frame_scores(model, random_video(5), clip_length=8)
    assert too_short.shape == (5,) and np.isnan(too_short).all()


def test_perfect_reconstruction_is_capped_not_infinite():
    inputs = keras.Input((None, SIZE, SIZE, 1))
    identity = keras.Model(inputs, keras.layers.Identity()(inputs))
    psnr = scoring.frame_psnr(identity, random_video(10), clip_length=4)
    np.testing.assert_allclose(psnr[2:-1], 100.0)


def test_frame_scores_rejects_frames_without_channel_axis():
    with pytest.raises(ValueError) as info:
        scoring.frame_scores(tiny_autoencoder(), np.zeros((20, 16, 16)))
    assert str(info.value) == (
        "Argument `frames` must be one video as the model sees it, of shape "
        "(frames, height, width, channels). Received: frames.shape="
        "(20, 16, 16). Add a channel axis with frames[..., None]."
    )


def test_frame_scores_rejects_unscaled_integer_frames():
    frames = np.zeros((20, 16, 16, 1), dtype="uint8")
    with pytest.raises(ValueError) as info:
        scoring.frame_scores(tiny_autoencoder(), frames)
    assert str(info.value) == (
        "Argument `frames` must be floating point, scaled to the model's "
        "value range (for example [-1, 1]); nothing is scaled here. "
        "Received: frames.dtype=uint8. Use AnomalyVideoDataset.frames(video), "
        "or scale the frames first."
    )


def test_frame_scores_rejects_a_model_that_does_not_reconstruct():
    inputs = keras.Input((8, SIZE, SIZE, 1))
    outputs = keras.layers.Conv2D(1, 3, padding="same")(inputs[:, -1])
    predictor = keras.Model(inputs, outputs)
    with pytest.raises(ValueError) as info:
        scoring.frame_scores(predictor, random_video(12), clip_length=8)
    assert str(info.value) == (
        "Scoring needs a model that reconstructs its input window: one "
        "output of the input's shape (batch, clip_length, height, width, "
        "channels). Received: output (5, 16, 16, 1) for input "
        "(5, 8, 16, 16, 1). For a model with several outputs, score a "
        "keras.Model(model.input, reconstruction_output)."
    )


def test_evaluate_scores_handles_single_class_and_unscored_frames():
    scores = {
        "a": np.array([np.nan, 0.1, 0.9, 0.4, np.nan]),
        "b": np.array([np.nan, 0.3, 0.2, 0.8, np.nan]),
    }
    # b's only anomalous frame is unscored: b is single-class.
    labels = {"a": np.array([1, 0, 1, 0, 0]), "b": np.array([1, 0, 0, 0, 0])}
    result = scoring.evaluate_scores(scores, labels)
    assert result.video_auc["a"] == 1.0
    assert np.isnan(result.video_auc["b"])
    assert result.single_class_videos == ["b"]
    assert result.macro_auc == 1.0
    expected = roc_auc_score([0, 1, 0, 0, 0, 0], [0.1, 0.9, 0.4, 0.3, 0.2, 0.8])
    assert result.micro_auc == pytest.approx(expected)


def test_evaluate_scores_all_one_class_is_nan_not_an_error():
    result = scoring.evaluate_scores(
        {"a": np.array([0.1, 0.5])}, {"a": np.array([1, 1])}
    )
    assert np.isnan(result.micro_auc) and np.isnan(result.macro_auc)


def test_evaluate_scores_rejects_label_count_mismatch():
    with pytest.raises(ValueError) as info:
        scoring.evaluate_scores(
            {"07": np.zeros(5)}, {"07": np.zeros(4, dtype="int8")}
        )
    assert str(info.value) == (
        "Video '07' has 4 labels but 5 scores; each frame needs exactly one "
        "label. Received: labels.shape=(4,), scores.shape=(5,)"
    )


@pytest.mark.ped2
def test_evaluate_scores_on_ped2_labels_matches_reference(ped2_root):
    rng = np.random.default_rng(0)
    scores = {}
    labels = {}
    for path in sorted((ped2_root / "testing" / "labels").glob("*.npy")):
        video_labels = np.load(path)
        psnr = -(video_labels + rng.normal(0, 0.8, len(video_labels)))
        psnr[:8] = np.nan
        psnr[-7:] = np.nan
        scores[path.stem] = reference_scores(psnr)
        labels[path.stem] = video_labels

    result = scoring.evaluate_scores(scores, labels)

    kept = {name: ~np.isnan(s) for name, s in scores.items()}
    all_labels = np.concatenate([labels[n][kept[n]] for n in scores])
    all_scores = np.concatenate([scores[n][kept[n]] for n in scores])
    assert result.micro_auc == pytest.approx(
        roc_auc_score(all_labels, all_scores)
    )
    assert result.micro_auc == pytest.approx(rank_auc(all_labels, all_scores))
    per_video = {
        n: rank_auc(labels[n][kept[n]], scores[n][kept[n]])
        for n in scores
        if len(np.unique(labels[n][kept[n]])) == 2
    }
    # Ped2 test videos 08-11 are anomalous in every frame, and 03's four
    # normal frames all fall among the unscored first 8 and last 7.
    single_class = ["03", "08", "09", "10", "11"]
    assert sorted(set(scores) - set(per_video)) == single_class
    assert result.single_class_videos == single_class
    for name, auc in per_video.items():
        assert result.video_auc[name] == pytest.approx(auc)
    assert result.macro_auc == pytest.approx(np.mean(list(per_video.values())))


def separable_videos(seed=0):
    """Normal frames faint, anomalous frames loud: the zero model's error
    separates them perfectly, also across videos."""
    rng = np.random.default_rng(seed)
    videos = {}
    for number in range(3):
        labels = np.zeros(40, dtype="int8")
        start = rng.integers(10, 25)
        labels[start : start + 8] = 1
        amplitude = np.where(labels == 1, 0.8, 0.1)
        amplitude = amplitude + rng.uniform(0, 0.02, len(labels))
        frames = rng.choice([-1.0, 1.0], (40, SIZE, SIZE, 1))
        frames = (frames * amplitude[:, None, None, None]).astype("float32")
        videos[f"{number + 1:02d}"] = (frames, labels)
    return videos


def test_evaluate_perfectly_separable_gives_auc_one():
    dataset = InMemoryDataset(separable_videos())
    result = scoring.evaluate(zero_model(), dataset, clip_length=8)
    assert result.micro_auc == 1.0
    assert result.macro_auc == 1.0
    assert set(result.video_auc) == {"01", "02", "03"}


def test_evaluate_random_model_gives_about_one_half():
    rng = np.random.default_rng(1)
    videos = {}
    for number in range(4):
        labels = np.zeros(120, dtype="int8")
        for start in rng.choice(110, 3, replace=False):
            labels[start : start + 15] = 1
        videos[str(number)] = (random_video(120, seed=number), labels)
    result = scoring.evaluate(
        tiny_autoencoder(seed=3), InMemoryDataset(videos), clip_length=8
    )
    assert abs(result.micro_auc - 0.5) < 0.1
    assert abs(result.macro_auc - 0.5) < 0.15


def test_evaluate_matches_reference_and_reports_single_class_video():
    videos = separable_videos()
    frames, _ = videos["03"]
    videos["03"] = (frames, np.ones(40, dtype="int8"))
    model = tiny_autoencoder(seed=2)

    result = scoring.evaluate(model, InMemoryDataset(videos), clip_length=8)

    expected = {
        name: reference_scores(reference_psnr(model, frames, 8, 4))
        for name, (frames, _) in videos.items()
    }
    for name in videos:
        np.testing.assert_allclose(
            result.scores[name], expected[name], atol=1e-5
        )
    kept = ~np.isnan(expected["01"])
    all_labels = np.concatenate([labels[kept] for _, labels in videos.values()])
    all_scores = np.concatenate([s[kept] for s in expected.values()])
    assert result.micro_auc == pytest.approx(
        roc_auc_score(all_labels, all_scores), abs=1e-6
    )
    assert np.isnan(result.video_auc["03"])
    assert result.macro_auc == pytest.approx(
        np.mean([result.video_auc["01"], result.video_auc["02"]])
    )


def test_evaluate_warns_when_every_frame_is_one_class():
    videos = {
        name: (frames, np.zeros_like(labels))
        for name, (frames, labels) in separable_videos().items()
    }
    with pytest.warns(UserWarning, match="micro AUC is undefined"):
        result = scoring.evaluate(
            zero_model(), InMemoryDataset(videos), clip_length=8
        )
    assert np.isnan(result.micro_auc)


def test_evaluate_without_labels_raises():
    videos = {"01": (random_video(20), None)}
    with pytest.raises(ValueError) as info:
        scoring.evaluate(zero_model(), InMemoryDataset(videos), clip_length=8)
    assert str(info.value) == (
        "evaluate needs per-frame labels (1 = anomalous) for the test "
        "videos, but none of the 1 has labels. Put one .npy file per video "
        "in testing/labels/, or use frame_scores to score unlabelled videos."
    )


def test_plot_frame_scores_shades_anomalous_runs():
    pytest.importorskip("matplotlib")
    labels = np.array([0, 1, 1, 0, 0, 1, 0, 0])
    figure = scoring.plot_frame_scores(np.linspace(0, 1, 8), labels, "v")
    axes = figure.axes[0]
    spans = [patch for patch in axes.patches]
    assert len(spans) == 2
    image = scoring.figure_to_array(figure)
    assert image.dtype == np.uint8 and image.shape == (240, 640, 3)


@pytest.mark.ped2
def test_evaluate_on_ped2_matches_reference(ped2_root):
    from keras_constrict.data import AnomalyVideoDataset

    dataset = AnomalyVideoDataset(ped2_root, size=(32, 32))
    names = ["01", "02", "03", "04"]
    model = tiny_autoencoder(seed=4, size=32)

    result = scoring.evaluate(model, dataset, videos=names)

    videos = {video.name: video for video in dataset.testing_videos}
    kept_scores, kept_labels = [], []
    for name in names:
        frames = dataset.frames(videos[name])
        labels = np.load(ped2_root / "testing" / "labels" / f"{name}.npy")
        expected = reference_scores(reference_psnr(model, frames, 16, 8))
        assert np.isnan(expected[:8]).all() and np.isnan(expected[-7:]).all()
        np.testing.assert_allclose(result.scores[name], expected, atol=1e-5)
        np.testing.assert_array_equal(result.labels[name], labels)
        kept_scores.append(expected[8:-7])
        kept_labels.append(labels[8:-7])
        if name == "03":
            assert np.isnan(result.video_auc[name])
        else:
            assert result.video_auc[name] == pytest.approx(
                roc_auc_score(labels[8:-7], expected[8:-7]), abs=1e-6
            )
    assert result.micro_auc == pytest.approx(
        roc_auc_score(np.concatenate(kept_labels), np.concatenate(kept_scores)),
        abs=1e-6,
    )
    assert result.macro_auc == pytest.approx(
        np.mean([result.video_auc[n] for n in ("01", "02", "04")])
    )
