"""The run schema: every setting of a run, defined once. Imports no TensorFlow.

`Config` holds what a run trains (written to `config.json`); `Launch` holds how
and where it runs (`--strategy`, `--tpu`, `--output_dir`), which never changes
the result. Each field carries its flag's help text, bounds, choices and an
optional check, so that `keras_rlr.train.flags` generates `train.py`'s flags
from it and the sweep runner reads it in-process. Adding a hyperparameter is
one field here plus the code that uses it.

The defaults are the paper's setting (docs/method.md); values the paper's text
lost are marked "(choice)" in the help.
"""

import dataclasses

from keras_rlr import backbones

# Groups, in `--help` order.
DATA, MODEL, OPTIMIZATION, HEADS, SCALE, RUN = (
    "Data",
    "Model",
    "Optimization",
    "Random-label heads",
    "Scale and precision",
    "Run",
)
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
JIT_MODES = ("off", "on", "auto")
STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def setting(
    default,
    help,  # noqa: A002 (the flag's help text)
    group,
    *,
    lower=None,
    upper=None,
    choices=None,
    check=None,
    backbone=None,
    flag=True,
):
    """A schema field: its default and everything its flag needs.

    Args:
        default: the default value; its type (`bool`, `int`, `float`, `str`,
            or `None` for an optional string) is the flag's type.
        help: the flag's help text.
        group: the `--help` section.
        lower, upper: inclusive bounds of a number.
        choices: the allowed values of a string (an enum flag).
        check: `(predicate, message)`: `predicate(value)` must hold, else the
            flag is refused with `message` (or the `ValueError` it raises).
        backbone: `(model name, argument)`: the backbone builder argument this
            field feeds when `--model` is that name.
        flag: whether `train.py` has a flag for it (else only the default,
            or a value given in code, is used).
    """
    return dataclasses.field(
        default=default,
        metadata=dict(
            help=help,
            group=group,
            lower=lower,
            upper=upper,
            choices=tuple(choices) if choices is not None else None,
            check=check,
            backbone=backbone,
            flag=flag,
        ),
    )


def _depth_list(value):
    """`"3,5"` -> `(3, 5)`; `""` or None -> `()`; None if not integers."""
    parts = [p.strip() for p in value.split(",")] if (value or "").strip() else []
    if not all(p.isdigit() for p in parts):
        return None
    return tuple(int(p) for p in parts)


def probe_depths(config):
    """The probe depths of `config`, as integers."""
    depths = _depth_list(config.probe_depths)
    if depths is None:
        raise ValueError(
            "--probe_depths must be comma-separated integers, e.g. 3,5,7. "
            f"Received: probe_depths={config.probe_depths!r}"
        )
    return depths


def _known_dataset(name):
    """True for a dataset name `keras_rlr.datasets.load` knows; else a
    `ValueError` listing the names (TFDS's registry is read without TF)."""
    from keras_rlr import _dataset_names

    return _dataset_names.check(name)


@dataclasses.dataclass
class Config:
    """A run's settings; the defaults are the paper's (docs/method.md)."""

    # -- Data
    dataset: str = setting(
        "cifar100",
        "A TFDS image dataset with train/test splits (cifar100, cifar10, mnist, "
        "...), 'digits' (8x8 digits shipped with scikit-learn, no download), "
        "'digits32' (those digits resized to 32x32), 'mnist1d' (MNIST-1D, "
        "generated offline: 4,000/1,000 sequences as (40, 1, 1) images, for "
        "--model=small_cnn1d) or 'synthetic' (CIFAR-shaped images with linearly "
        "learnable labels).",
        DATA,
        check=(_known_dataset, "unknown --dataset"),
    )
    data_dir: str | None = setting(
        None, "TFDS data directory holding the prepared dataset.", DATA
    )
    max_train_examples: int = setting(
        0,
        "Keep only the first N training examples (0: all). For quick runs.",
        DATA,
        lower=0,
    )
    label_noise: float = setting(
        0.0,
        "Replace this fraction of the training labels by another class (a fixed "
        "subset, a pure function of --seed and the example's index; the test set "
        "is left alone). The mislabeled examples validate the memorization score.",
        DATA,
        lower=0.0,
        upper=1.0,
    )
    augment: bool = setting(
        True,
        "Pad by 1/8 of the image size and crop back at random (a sequence "
        "shifts along its length only), and flip horizontally where the "
        "dataset allows it (not for digits, mnist1d or mnist).",
        DATA,
    )
    # -- Model
    model: str = setting(
        "wide_resnet",
        "Feature extractor: a WideResNet (--wrn_depth, --wrn_width), the small CNN "
        "(--cnn_width, --cnn_feature_dim), or the CIFAR VGG16 classifier split "
        "--copy_depth layers before its output (--vgg_width).",
        MODEL,
        choices=backbones.NAMES,
    )
    wrn_depth: int = setting(
        16,
        "WideResNet depth, 6n + 4.",
        MODEL,
        lower=10,
        check=(
            lambda d: (d - 4) % 6 == 0,
            "--wrn_depth must be 6n + 4 (10, 16, 22, ...)",
        ),
        backbone=("wide_resnet", "depth"),
    )
    wrn_width: int = setting(
        4,
        "WideResNet widening factor.",
        MODEL,
        lower=1,
        backbone=("wide_resnet", "width"),
    )
    cnn_width: int = setting(
        32,
        "Channels of the small CNN's first conv.",
        MODEL,
        lower=1,
        backbone=("small_cnn", "width"),
    )
    cnn_feature_dim: int = setting(
        256,
        "Feature size of the small CNN.",
        MODEL,
        lower=1,
        backbone=("small_cnn", "feature_dim"),
    )
    vgg_width: float = setting(
        1.0,
        "Multiplies VGG16's hidden widths (64...512 channels, 512 dense units); "
        "below 1 for slim CPU versions with the same 16 layers.",
        MODEL,
        lower=1e-6,
        backbone=("vgg16", "width"),
    )
    # -- Optimization: SGD with momentum, cosine schedule, no regularization.
    epochs: int = setting(200, "Training epochs.", OPTIMIZATION, lower=1)
    batch_size: int = setting(
        256, "Global batch size (over all replicas).", OPTIMIZATION, lower=1
    )
    learning_rate: float = setting(
        0.1,
        "Base learning rate of SGD, decayed to 0 by a cosine schedule.",
        OPTIMIZATION,
        lower=0.0,
    )
    momentum: float = setting(0.9, "SGD momentum.", OPTIMIZATION, lower=0.0, upper=1.0)
    weight_decay: float = setting(
        0.0,
        "L2 weight decay on the kernels of the extractor and class head (gradient "
        "gains weight_decay * w, as torch's SGD). Never on the random heads.",
        OPTIMIZATION,
        lower=0.0,
    )
    dropout: float = setting(
        0.0,
        "Dropout rate inside the backbone: between the two convs of every WRN "
        "block; before the feature layer of the small CNN.",
        OPTIMIZATION,
        lower=0.0,
        upper=0.99,
    )
    label_smoothing: float = setting(
        0.0,
        "Label smoothing of the class loss only.",
        OPTIMIZATION,
        lower=0.0,
        upper=0.99,
    )
    # -- Random-label heads
    num_random_labels: int = setting(
        10,
        "R, the random labels per example; chance accuracy is 1/R.",
        HEADS,
        lower=2,
    )
    reg_lambda: float = setting(
        0.0,
        "Weight of the random-label regularizer L_reg in the extractor's loss "
        "(0: the heads only measure).",
        HEADS,
        lower=0.0,
    )
    copy_depth: int = setting(
        1,
        "Split the network this many layers before its output: the class path "
        "keeps its last copy_depth layers, each random-label head is a fresh copy "
        "of them with R outputs. 1: dense heads on the features; 2...16 need "
        "--model=vgg16 (16 copies the whole network, and L_reg has nothing to "
        "train).",
        HEADS,
        lower=1,
        upper=16,
    )
    probe_depths: str | None = setting(
        None,
        "Comma-separated copy depths of probes (e.g. 3,5,7,9): observer heads, "
        "each C fresh copies of the network's last d layers, trained on L_rand "
        "only, that never change the network. Each d must differ from "
        "--copy_depth; needs --model=vgg16. Logs random_label_accuracy_d<d> per probe.",
        HEADS,
        check=(
            lambda value: _depth_list(value) is not None,
            "--probe_depths must be comma-separated integers, e.g. 3,5,7",
        ),
    )
    copy_width_multiplier: float = setting(
        1.0,
        "Widens the hidden layers of the copied heads (capacity control).",
        HEADS,
        lower=1e-6,
    )
    single_output: bool = setting(
        False,
        "No class head: classes are predicted by sum_r q[c, r]; the extractor "
        "learns from L_reg alone (paper A.5; needs --reg_lambda=0 and "
        "--label_smoothing=0).",
        HEADS,
    )
    # -- Scale and precision
    sync_batch_norm: bool = setting(
        False,
        "Batch-norm statistics over the global batch (an all-reduce per layer) "
        "instead of each replica's share. Off: per-replica statistics, as on one "
        "GPU with the per-replica batch.",
        SCALE,
    )
    mixed_precision: str = setting(
        "float32",
        "Keras dtype policy. Heads, logits and softmax stay float32; under "
        "mixed_float16 both applied losses are loss-scaled.",
        SCALE,
        choices=PRECISIONS,
    )
    jit_compile: str = setting(
        "off",
        "XLA for the train step. Off by default: slower than graph mode on CPU; "
        "turned off with a warning under multi-replica strategies.",
        SCALE,
        choices=JIT_MODES,
    )
    steps_per_execution: int = setting(
        32,
        "Training steps per call into the compiled step: the largest divisor of "
        "the steps per epoch up to N, so that every epoch ends on a call "
        "(Keras logs wrong epoch metrics otherwise). Saves per-step Python "
        "overhead: a quickstart epoch took 0.5-0.7x as long with 4 to 44 steps "
        "per call as with 1. Per-epoch callbacks are unaffected; progress bars "
        "move every N steps. 1 under multi-replica strategies.",
        SCALE,
        lower=1,
    )
    # -- Run
    seed: int = setting(
        0, "Seed of initialization, random labels, shuffling, augmentation.", RUN
    )
    deterministic: bool = setting(
        False,
        "Enable TF op determinism: a rerun, or a run resumed after a crash, gives "
        "bit-identical weights (slower).",
        RUN,
    )
    eval_batch_size: int = setting(
        512, "Batch size of the evaluation passes.", RUN, lower=1, flag=False
    )
    train_eval_examples: int = setting(
        0,
        "Measure train_accuracy and train_random_label_accuracy at each epoch end "
        "on the first N training examples (0: all; an evaluation pass costs about "
        "a third of a training epoch).",
        RUN,
        lower=0,
    )
    export_dir: str | None = setting(
        None,
        "Also export the trained model as a TF SavedModel here (endpoints serve "
        "and random_label_logits).",
        RUN,
    )
    verbose: int = setting(
        1,
        "0: silent, 1: progress bar (one line per epoch where output is not a "
        "terminal), 2: one line per epoch.",
        RUN,
        lower=0,
        upper=2,
    )


@dataclasses.dataclass
class Launch:
    """How and where a run executes: never part of what it trains."""

    strategy: str = setting(
        "default",
        "tf.distribute strategy: one device; every local GPU (MirroredStrategy); "
        "the cluster in TF_CONFIG (MultiWorkerMirroredStrategy; only the chief "
        "writes --output_dir); a TPU (--tpu). --batch_size is the global batch.",
        SCALE,
        choices=STRATEGIES,
    )
    tpu: str | None = setting(None, "TPU name or address for --strategy=tpu.", SCALE)
    output_dir: str | None = setting(
        None,
        "Run directory. Started again after a crash, a run resumes from its last "
        "epoch backup there; a finished run is never overwritten.",
        RUN,
    )


# Settings that may differ between an interrupted run and its resumption.
RESUMABLE_CHANGES = ("verbose", "export_dir", "steps_per_execution")
# Settings that say how or where a run executes, not what it trains.
NOT_SETTINGS = (
    "data_dir",
    "export_dir",
    "verbose",
    "strategy",
    "tpu",
    "jit_compile",
    "steps_per_execution",
    "output_dir",
)


@dataclasses.dataclass(frozen=True)
class Field:
    """One setting of the schema, as a flag sees it."""

    name: str
    type: type  # bool, int, float or str
    default: object
    help: str
    group: str
    lower: object = None
    upper: object = None
    choices: tuple | None = None
    check: tuple | None = None
    backbone: tuple | None = None
    flag: bool = True


def fields(schema=None):
    """The `Field`s of `schema` (`Config`, `Launch`; default: both), in order."""
    schemas = (Config, Launch) if schema is None else (schema,)
    return [
        Field(
            name=f.name,
            type=type(f.default) if f.default is not None else str,
            default=f.default,
            **f.metadata,
        )
        for s in schemas
        for f in dataclasses.fields(s)
    ]


def field(name):
    """The `Field` called `name`; `KeyError` if the schema has none."""
    for f in fields():
        if f.name == name:
            return f
    raise KeyError(name)


def to_dict(config):
    """`config` as the JSON-ready dict written to `config.json`."""
    return dataclasses.asdict(config)


def from_values(values):
    """`(Config, Launch)` from a name -> value mapping (extra names ignored)."""
    return tuple(
        schema(
            **{
                f.name: values[f.name]
                for f in dataclasses.fields(schema)
                if f.name in values
            }
        )
        for schema in (Config, Launch)
    )
