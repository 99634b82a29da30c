"""train.py end to end, as users run it: a subprocess with nested flagfiles."""

import csv
import json
import os

import keras
import pytest
from train_utils import LOGGED_METRICS, run_train, tiny_config

import keras_rlr
from keras_rlr.train import config as schema


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    flagfile = tmp / "tiny.cfg"
    # An experiment file that includes the quickstart (which includes base.cfg).
    flagfile.write_text(
        "--flagfile=configs/quickstart.cfg\n"
        "--epochs=4\n--max_train_examples=256\n--cnn_width=8\n--cnn_feature_dim=32\n"
        "--augment\n--dropout=0.1\n--label_smoothing=0.1\n--weight_decay=1e-4\n"
        "--reg_lambda=0.5\n--verbose=2\n"
    )
    output_dir = tmp / "out"
    result = run_train(f"--flagfile={flagfile}", f"--output_dir={output_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return output_dir, result


def test_writes_every_artifact(tiny_run):
    output_dir, result = tiny_run
    for name in (
        "flags.txt",
        "config.json",
        "history.csv",
        "summary.json",
        "model.keras",
        "curves.png",
    ):
        assert (output_dir / name).is_file(), name
    events = [f for _, _, files in os.walk(output_dir / "tensorboard") for f in files]
    assert any(f.startswith("events.out.tfevents") for f in events)
    assert (output_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "random-label accuracy, training set" in result.stdout


def test_flags_are_resolved_through_nested_flagfiles(tiny_run):
    output_dir, _ = tiny_run
    flags = (output_dir / "flags.txt").read_text().splitlines()
    assert "--dataset=digits" in flags  # from quickstart.cfg
    assert "--momentum=0.9" in flags  # from base.cfg
    assert "--epochs=4" in flags and "--reg_lambda=0.5" in flags  # overrides
    # Where the run lives is not part of it: a copied directory, resumed with
    # --flagfile=COPY/flags.txt --output_dir=COPY, trains the copy.
    assert not [flag for flag in flags if flag.startswith("--output_dir")]
    config = json.loads((output_dir / "config.json").read_text())
    assert config["epochs"] == 4 and config["model"] == "small_cnn"


def test_history_and_summary(tiny_run):
    output_dir, _ = tiny_run
    with open(output_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3]
    expected = {*LOGGED_METRICS, "train_accuracy", "train_random_label_accuracy"}
    expected |= {f"val_{m}" for m in expected if not m.startswith("train_")}
    assert expected <= set(rows[0])
    assert float(rows[-1]["class_loss"]) < float(rows[0]["class_loss"])
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    summary = json.loads((output_dir / "summary.json").read_text())
    assert summary["num_random_labels"] == 10 and summary["chance"] == 0.1
    for name in expected:
        assert summary[name] == pytest.approx(float(rows[-1][name]))


def test_tensorboard_hparams_hold_the_settings_and_final_metrics(tiny_run):
    """What TensorBoard's HParams dashboard reads, read back from the events."""
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.plugins.hparams import metadata
    from tensorboard.util import tensor_util

    output_dir, _ = tiny_run
    events = event_accumulator.EventAccumulator(str(output_dir / "tensorboard"))
    events.Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(
        content[metadata.SESSION_START_INFO_TAG]
    )
    assert start.group_name == f"{output_dir.parent.name}/{output_dir.name}"
    hparams = {name: value.ListFields()[0][1] for name, value in start.hparams.items()}
    config = json.loads((output_dir / "config.json").read_text())
    assert hparams["reg_lambda"] == 0.5 and hparams["dataset"] == "digits"
    assert hparams["augment"] is True and hparams["epochs"] == 4
    assert "output_dir" not in hparams and "verbose" not in hparams
    assert set(hparams) == {
        name for name in config if name not in schema.NOT_SETTINGS
    } - {name for name, value in config.items() if value is None}
    # The final metrics: scalars beside the settings, at the last epoch.
    summary = json.loads((output_dir / "summary.json").read_text())
    tags = set(events.Tags()["tensors"]) - {metadata.SESSION_START_INFO_TAG}
    assert {"val_accuracy", "train_random_label_accuracy", "loss"} <= tags
    assert tags <= set(summary) - {"epoch", "chance", "num_random_labels"}
    for tag in tags:
        (scalar,) = events.Tensors(tag)
        assert scalar.step == 4
        value = tensor_util.make_ndarray(scalar.tensor_proto)
        assert float(value) == pytest.approx(summary[tag])


def test_saved_model_loads_with_its_settings(tiny_run):
    output_dir, _ = tiny_run
    model = keras.saving.load_model(output_dir / "model.keras")
    assert isinstance(model, keras_rlr.RandomLabelModel)
    assert model.reg_lambda == 0.5 and model.label_smoothing == 0.1
    assert int(model.optimizer.iterations) == 4 * (256 // 32)


def test_a_finished_run_is_not_overwritten(tiny_run):
    output_dir, _ = tiny_run
    result = run_train(
        "--flagfile=configs/quickstart.cfg", f"--output_dir={output_dir}"
    )
    assert result.returncode != 0
    assert "already holds a finished run with other settings" in result.stderr
    assert "epochs: 4 -> 80" in result.stderr  # names what differs
    assert "Traceback" not in result.stderr


def test_the_same_command_on_a_finished_run_exits_0(tiny_run):
    """A "rerun until it succeeds" loop ends: the run is finished, not redone."""
    output_dir, _ = tiny_run
    summary = (output_dir / "summary.json").read_text()
    result = run_train(
        f"--flagfile={output_dir.parent / 'tiny.cfg'}",
        f"--output_dir={output_dir}",
        "--verbose=0",  # how a run reports is not a setting of the run
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "already holds this run, finished: nothing to do" in result.stdout
    assert (output_dir / "summary.json").read_text() == summary


@pytest.mark.parametrize(
    "flag, name",
    [
        ("--dataset=no_such_data", "--dataset"),
        ("--model=resnet9000", "--model"),
        ("--num_random_labels=1", "--num_random_labels"),
        ("--reg_lambda=-0.5", "--reg_lambda"),
        ("--wrn_depth=15", "--wrn_depth"),
    ],
)
def test_bad_flags_name_the_flag(tmp_path, flag, name):
    result = run_train(
        "--flagfile=configs/quickstart.cfg", f"--output_dir={tmp_path}", flag
    )
    assert result.returncode != 0
    assert name in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "summary.json").exists()


@pytest.mark.heavy
def test_quickstart_shows_the_phenomenon(tmp_path):
    """The README's promise, with the shipped config: memorization is visible."""
    result = run_train(
        "--flagfile=configs/quickstart.cfg", f"--output_dir={tmp_path}", "--verbose=0"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    chance = summary["chance"]
    assert summary["val_accuracy"] >= 0.95
    assert summary["train_random_label_accuracy"] >= 3 * chance
    # Unlearnable by construction: Binomial(n, 1/R) / n around chance (3 std).
    std = (chance * (1 - chance) / summary["num_test_examples"]) ** 0.5
    assert summary["num_test_examples"] == 360
    assert abs(summary["val_random_label_accuracy"] - chance) <= 3 * std


def test_scale_and_ship_flags_end_to_end(tmp_path):
    """multi_worker on one worker, bfloat16, XLA auto, export: a run still works."""
    export_dir = tmp_path / "saved"
    result = run_train(
        "--flagfile=configs/quickstart.cfg",
        f"--output_dir={tmp_path / 'run'}",
        "--epochs=1",
        "--max_train_examples=128",
        "--cnn_width=4",
        "--cnn_feature_dim=8",
        "--strategy=multi_worker",
        "--sync_batch_norm",
        "--mixed_precision=mixed_bfloat16",
        "--jit_compile=auto",
        f"--export_dir={export_dir}",
        "--verbose=0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "run" / "summary.json").is_file()
    assert (export_dir / "saved_model.pb").is_file()
    flags = (tmp_path / "run" / "flags.txt").read_text()
    assert "--mixed_precision=mixed_bfloat16" in flags


def test_global_batch_must_split_over_replicas(tmp_path):
    from keras_rlr.train import experiment

    class ThreeReplicas:
        num_replicas_in_sync = 3

    config = tiny_config(batch_size=32)
    with pytest.raises(experiment.RunError, match="batch_size=32"):
        experiment.train_and_evaluate(config, str(tmp_path), strategy=ThreeReplicas())


def test_flags_are_the_schemas():
    """train.py's flags are generated from the run schema: as absl sees them
    (`--helpxml`), every flag has the schema's type, default and choices."""
    import xml.etree.ElementTree as ET

    from keras_rlr import backbones
    from keras_rlr.train import config as schema

    result = run_train("--helpxml")
    flags = {
        flag.findtext("name"): flag
        for flag in ET.fromstring(result.stdout).iter("flag")
        if flag.findtext("file") == "keras_rlr.train.flags"
    }
    assert flags["model"].findtext("type") == "string enum"
    assert tuple(e.text for e in flags["model"].iter("enum_value")) == backbones.NAMES
    expected = [f for f in schema.fields() if f.flag]
    assert sorted(flags) == sorted(f.name for f in expected)
    for field in expected:
        flag = flags[field.name]
        default = flag.findtext("default") or None
        if field.type is bool:
            assert default == str(field.default).lower(), field.name
        elif field.type in (int, float):
            assert float(default) == field.default, field.name
        else:
            assert default == field.default, field.name
        if field.choices:
            choices = tuple(e.text for e in flag.iter("enum_value"))
            assert choices == field.choices, field.name
