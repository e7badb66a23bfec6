"""Training runs: run folder, resume after a kill, refusals, evaluate, CLI."""

import json
import subprocess
import sys
import types

import keras
import numpy as np
import pytest

from keras_constrict import cli
from keras_constrict import scoring
from keras_constrict.data import AnomalyVideoDataset
from keras_constrict.training import TrainConfig
from keras_constrict.training import train


@pytest.fixture(scope="module")
def tiny_data(tiny_synthetic_data):
    return tiny_synthetic_data


def tiny_config(data, out, **overrides):
    settings = dict(
        data=str(data),
        out=str(out),
        constriction="surface",
        radius="auto",
        weight=0.1,
        warmup_epochs=1,
        epochs=2,
        size=32,
        width=0.125,
        clip_length=8,
        stride=2,
        batch_size=4,
        learning_rate=1e-3,
        seed=1,
    )
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def finished_run(tiny_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "surface"
    results = train(tiny_config(tiny_data, out), verbose=0)
    return out, results


def test_run_folder_holds_what_a_user_needs(finished_run, tiny_data):
    out, results = finished_run
    for name in (
        "run.json",
        "results.json",
        "history.csv",
        "score_curves.png",
        "checkpoints/best.keras",
        "checkpoints/last.keras",
        "state/model.keras",
        "state/progress.json",
    ):
        assert (out / name).is_file(), name
    assert list((out / "logs" / "validation").glob("events.out.*"))
    assert len(results["history"]["val_auc"]) == 2
    assert results["radius"] > 0

    # The reported AUC is the protocol's AUC of the last epoch's model.
    last = keras.saving.load_model(out / "checkpoints" / "last.keras")
    dataset = AnomalyVideoDataset(tiny_data, size=(32, 32))
    evaluation = scoring.evaluate(last, dataset, clip_length=8)
    assert results["micro_auc"] == pytest.approx(evaluation.micro_auc)
    assert results["micro_auc"] == pytest.approx(
        results["history"]["val_auc"][-1]
    )
    # The best checkpoint is a constricted model, never the warm-up one.
    best = keras.saving.load_model(out / "checkpoints" / "best.keras")
    constriction = best.get_layer("surface_constriction")
    assert constriction.radius == pytest.approx(results["radius"])
    assert constriction.weight == pytest.approx(0.1)
    assert results["best_val_auc"] == pytest.approx(
        results["history"]["val_auc"][-1]
    )


class StopAt(keras.callbacks.Callback):
    """Raises mid-epoch, as a kill would stop the run."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.epoch, self.batch = epoch, batch

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch

    def on_train_batch_end(self, batch, logs=None):
        if (self.current, batch) == (self.epoch, self.batch):
            raise KeyboardInterrupt("killed")


def test_killed_run_resumes_where_it_was(tiny_data, tmp_path):
    settings = dict(epochs=3, checkpoint_seconds=0.0, radius=2.0)
    straight = tiny_config(tiny_data, tmp_path / "straight", **settings)
    train(straight, verbose=0)

    resumed = tiny_config(tiny_data, tmp_path / "resumed", **settings)
    with pytest.raises(KeyboardInterrupt):
        train(resumed, verbose=0, callbacks=[StopAt(epoch=1, batch=2)])
    progress = json.loads(
        (tmp_path / "resumed" / "state" / "progress.json").read_text()
    )
    assert (progress["epoch"], progress["batch"]) == (1, 3)
    assert not (tmp_path / "resumed" / "results.json").exists()
    train(resumed, verbose=0)

    a = keras.saving.load_model(tmp_path / "straight" / "state" / "model.keras")
    b = keras.saving.load_model(tmp_path / "resumed" / "state" / "model.keras")
    for left, right in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_allclose(left, right, rtol=1e-4, atol=1e-5)
    history = json.loads((tmp_path / "resumed" / "results.json").read_text())
    assert len(history["history"]["epoch"]) == 3


def test_early_stopping_ends_the_run(tiny_data, tmp_path):
    # No later epoch can beat the first by 1e9: EarlyStopping stops after
    # the second epoch (it never stops after the first) and puts back the
    # first epoch's weights.
    stop = keras.callbacks.EarlyStopping(
        "loss", min_delta=1e9, patience=0, restore_best_weights=True
    )
    out = tmp_path / "early"
    config = tiny_config(tiny_data, out, constriction="none", epochs=5)
    results = train(config, verbose=0, callbacks=[stop])
    assert results["epochs_trained"] == 2
    assert results["stopped_early"] is True
    assert len(results["history"]["epoch"]) == 2
    saved = json.loads((out / "results.json").read_text())
    assert saved["epochs_trained"] == 2

    # The figures are those of the restored model, which is last.keras:
    # the first epoch's model, as its val_auc in the history says.
    last = keras.saving.load_model(out / "checkpoints" / "last.keras")
    dataset = AnomalyVideoDataset(tiny_data, size=(32, 32))
    evaluation = scoring.evaluate(last, dataset, clip_length=8)
    assert results["micro_auc"] == pytest.approx(evaluation.micro_auc)
    assert results["micro_auc"] == pytest.approx(
        results["history"]["val_auc"][0]
    )
    with pytest.raises(ValueError, match="stopped after 2 epochs"):
        train(config, verbose=0)


def test_refuses_to_overwrite_and_archives_when_asked(
    finished_run, tiny_data, tmp_path
):
    out, _ = finished_run
    with pytest.raises(ValueError, match="holds a completed run of 2 epochs"):
        train(tiny_config(tiny_data, out), verbose=0)
    with pytest.raises(ValueError) as error:
        train(tiny_config(tiny_data, out, weight=0.5), verbose=0)
    assert "holds a run with other settings (weight: 0.1 -> 0.5)" in str(
        error.value
    )

    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="holds no keras-constrict run"):
        train(tiny_config(tiny_data, foreign), verbose=0)
    assert (foreign / "notes.txt").read_text() == "keep me"

    # --overwrite moves, never deletes.
    config = tiny_config(tiny_data, foreign, epochs=1, constriction="none")
    train(config, overwrite=True, verbose=0)
    archived = list((foreign / "previous").glob("*/notes.txt"))
    assert [p.read_text() for p in archived] == ["keep me"]
    assert (foreign / "results.json").exists()


def test_bad_settings_name_the_setting(tiny_data, tmp_path):
    with pytest.raises(ValueError, match="Received: size=50. Try 48."):
        train(tiny_config(tiny_data, tmp_path / "a", size=50))
    with pytest.raises(ValueError, match="Received: precision='half'"):
        train(tiny_config(tiny_data, tmp_path / "b", precision="half"))
    with pytest.raises(ValueError, match="Received: radius=-2.0"):
        train(tiny_config(tiny_data, tmp_path / "c", radius=-2.0))
    assert not (tmp_path / "a").exists()


def test_cli_evaluate_prints_the_protocol_figures(
    finished_run, tiny_data, capsys
):
    out, results = finished_run
    status = cli.main(
        ["evaluate", "--model", str(out), "--data", str(tiny_data)]
    )
    printed = capsys.readouterr().out
    assert status == 0
    assert f"micro AUC {results['micro_auc']:.4f}" in printed
    written = json.loads(
        (out / "evaluations" / "data" / "evaluation.json").read_text()
    )
    assert written["micro_auc"] == pytest.approx(results["micro_auc"])


def test_cli_evaluate_counts_many_anomalous_frames(capsys):
    # int8 labels: 200 anomalous frames overflowed a Python sum once.
    labels = np.zeros(300, np.int8)
    labels[:200] = 1
    evaluation = types.SimpleNamespace(
        video_auc={"01": 0.75},
        labels={"01": labels},
        micro_auc=0.75,
        macro_auc=0.75,
    )
    cli._print_evaluation(evaluation)
    assert "01        0.7500     300        200" in capsys.readouterr().out


def test_cli_evaluate_in_a_fresh_process(finished_run, tiny_data, tmp_path):
    # A new interpreter has imported nothing of the package: loading a
    # constricted checkpoint must still find the layer classes.
    out, results = finished_run
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "keras_constrict.cli",
            "evaluate",
            "--model",
            str(out),
            "--data",
            str(tiny_data),
            "--out",
            str(tmp_path / "evaluation"),
        ],
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert f"micro AUC {results['micro_auc']:.4f}" in completed.stdout


def test_cli_reports_errors_without_a_traceback(tmp_path, capsys):
    status = cli.main(
        ["evaluate", "--model", str(tmp_path), "--data", str(tmp_path)]
    )
    assert status == 2
    assert "is not a keras-constrict run folder" in capsys.readouterr().err


def test_bfloat16_trains_a_few_steps(tiny_data, tmp_path):
    config = tiny_config(
        tiny_data,
        tmp_path / "bf16",
        precision="mixed_bfloat16",
        epochs=1,
        steps_per_epoch=3,
        radius=1.0,
    )
    try:
        results = train(config, verbose=0)
    finally:
        keras.config.set_dtype_policy("float32")
    assert np.isfinite(results["history"]["loss"][0])
