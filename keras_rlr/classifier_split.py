"""Splitting a functional Keras classifier for `RandomLabelModel.from_classifier`.

The graph surgery behind the paper's copy-depth heads on any network: find the
tail of layers from a split point to the output, make the feature extractor
(the classifier up to the tail's input), the class head (fresh layers holding
the tail's weights, returning logits) and `C` fused fresh copies of the tail
(`CopiedHeads`). Walking the graph reads Keras's `_keras_history` and
`_inbound_nodes`: private attributes, kept to this module. A `Sequential`
model is first rebuilt as a functional model over the same layers.
"""

import collections

import keras

from keras_rlr.copied_heads import CopiedHeads

Parts = collections.namedtuple(
    "Parts",
    [
        "feature_extractor",
        "class_head",
        "random_heads",
        "num_classes",
        "probe_extractor",
        "probes",
        "probe_class_head",
    ],
    defaults=(None, None, None),
)


def split_classifier(
    classifier,
    split_layer=None,
    num_random_labels=10,
    width_multiplier=1.0,
    conv_implementation="auto",
    single_output=False,
    probe_layers=(),
):
    """The parts of a `RandomLabelModel` cut out of `classifier`.

    See `RandomLabelModel.from_classifier` for the arguments.

    Returns:
        `Parts(feature_extractor, class_head, random_heads, num_classes,
        probe_extractor, probes, probe_class_head)`; `class_head` is None with
        `single_output`; `probe_extractor` (`probe_class_head`) is None
        without probes deeper (shallower) than the main split.
    """
    if isinstance(classifier, keras.Sequential):
        classifier = _as_functional(classifier)
    tail, tail_input = _split(classifier, split_layer)
    last = tail[-1]
    num_classes = int(last.units)
    image = classifier.inputs[0]
    if tail_input is image:
        # Copy the whole network: an extractor without weights.
        feature_extractor = keras.Model(image, image, name="identity")
    else:
        feature_extractor = keras.Model(
            image, tail_input, name=f"{classifier.name}_extractor"
        )
    class_head, clone_inputs = None, {}
    if not single_output:
        inputs = keras.Input(tuple(tail_input.shape[1:]), name="features")
        x = inputs
        clones = []
        for layer in tail:
            clone_inputs[id(layer)] = x  # where a shallower probe reads
            config = layer.get_config()
            if layer is last:
                config["activation"] = "linear"
            clone = layer.__class__.from_config(config)
            x = clone(x)
            clones.append((clone, layer))
        for clone, layer in clones:
            clone.set_weights(layer.get_weights())
        class_head = keras.Model(inputs, x, name="class_head")
    random_heads = CopiedHeads(
        tail,
        num_copies=num_classes,
        num_outputs=num_random_labels,
        width_multiplier=width_multiplier,
        conv_implementation=conv_implementation,
        name="random_heads",
    )
    probe_extractor, probes, probe_class_head = None, None, None
    if probe_layers:
        probe_extractor, probes, probe_class_head = _probes(
            classifier,
            tail,
            tail_input,
            class_head,
            clone_inputs,
            probe_layers,
            num_classes=num_classes,
            num_outputs=num_random_labels,
            width_multiplier=width_multiplier,
            conv_implementation=conv_implementation,
        )
    return Parts(
        feature_extractor,
        class_head,
        random_heads,
        num_classes,
        probe_extractor,
        probes,
        probe_class_head,
    )


def copy_depth(tail):
    """The number of weighted layers (`Dense`, `Conv2D`) in `tail`."""
    return sum(isinstance(t, keras.layers.Dense | keras.layers.Conv2D) for t in tail)


def _probes(
    classifier,
    tail,
    tail_input,
    class_head,
    clone_inputs,
    probe_layers,
    num_classes,
    **heads,
):
    """The probes, and the extractor and class head that compute their features.

    A probe deeper than the main split reads a tensor of the classifier's graph
    before it: the extractor gets it as a further output. A shallower one reads
    a tensor inside the class head: the class head gets it as a further output.
    Either way one forward pass computes the main features, the class logits
    and every probe's features. A probe is named `d<k>`, `k` the weighted
    layers of its tail. Returns `(probe_extractor, probes, probe_class_head)`,
    the deeper probes first in `probes`.
    """
    depth = copy_depth(tail)
    tensors, probes = [], {}
    inner, shallow = [], {}
    for layer_name in probe_layers:
        probe_tail, tensor = _split(classifier, layer_name)
        probe_depth = copy_depth(probe_tail)
        name = f"d{probe_depth}"
        if probe_depth == depth:
            raise ValueError(
                f"A probe at {layer_name!r} has the main heads' copy depth "
                f"{depth}: it would repeat them. Put probes at other depths. "
                f"Received: probe layer={layer_name!r}"
            )
        if name in probes or name in shallow:
            raise ValueError(
                f"Two probe layers have copy depth {probe_depth}; give one layer "
                f"per depth. Received: probe_layers={list(probe_layers)}"
            )
        probe = CopiedHeads(
            probe_tail, num_copies=num_classes, name=f"probe_{name}", **heads
        )
        if probe_depth > depth:
            tensors.append(tensor)
            probes[name] = probe
            continue
        if class_head is None:
            raise ValueError(
                f"A probe at {layer_name!r} (depth {probe_depth}) would read "
                "features inside the class head, and single_output has none. "
                f"Put probes deeper than the heads' depth {depth}. "
                f"Received: probe layer={layer_name!r}"
            )
        inner.append(clone_inputs[id(probe_tail[0])])
        shallow[name] = probe
    # The same layers as the classifier (and the main extractor): one graph.
    probe_extractor = None
    if tensors:
        probe_extractor = keras.Model(
            classifier.inputs[0],
            [tail_input, *tensors],
            name=f"{classifier.name}_probe_extractor",
        )
    # The same layers as the class head.
    probe_class_head = None
    if inner:
        probe_class_head = keras.Model(
            class_head.inputs, [class_head.outputs[0], *inner], name="probe_class_head"
        )
    return probe_extractor, {**probes, **shallow}, probe_class_head


def _split(classifier, split_layer):
    """The tail of layers from `split_layer` to the output, and its input tensor."""
    if not isinstance(classifier, keras.Model) or not getattr(
        classifier, "_operations", None
    ):
        raise ValueError(
            "from_classifier splits a functional or Sequential Keras model: the "
            "layers of a subclassed model's call() cannot be cut apart. Build "
            "the classifier as keras.Model(inputs, outputs), or pass its parts "
            "to RandomLabelModel(feature_extractor=..., num_classes=...). "
            f"Received: classifier={classifier!r}"
        )
    if len(classifier.inputs) != 1 or len(classifier.outputs) != 1:
        raise ValueError(
            "from_classifier needs a classifier with one input and one output. "
            f"Received: {len(classifier.inputs)} inputs, "
            f"{len(classifier.outputs)} outputs"
        )
    names = [layer.name for layer in classifier.layers]
    if split_layer is not None and split_layer not in names:
        raise ValueError(
            f"The classifier has no layer named {split_layer!r}; its layers are "
            f"{names}. Received: split_layer={split_layer!r}"
        )
    chain, tensor = [], classifier.outputs[0]
    while True:
        layer, node_index, _ = tensor._keras_history
        if isinstance(layer, keras.layers.InputLayer):
            raise ValueError(
                f"Layer {split_layer!r} is not on the path from the input to the "
                f"output. Received: split_layer={split_layer!r}"
            )
        inputs = layer._inbound_nodes[node_index].input_tensors
        if len(inputs) != 1:
            raise ValueError(
                f"Cannot split the classifier at {split_layer!r}: the layers "
                f"after it branch and merge at {layer.name!r} ({len(inputs)} "
                "inputs), and only a chain of layers can be copied. Split at a "
                f"layer after {layer.name!r}. Received: split_layer={split_layer!r}"
            )
        chain.append(layer)
        tensor = inputs[0]
        if split_layer is None and isinstance(layer, keras.layers.Dense):
            break
        if layer.name == split_layer:
            break
    tail = chain[::-1]
    # The class head returns logits: a trailing softmax is dropped.
    while tail and _is_softmax(tail[-1]):
        tail.pop()
    if not tail or not isinstance(tail[-1], keras.layers.Dense):
        raise ValueError(
            "The classifier must end with a Dense layer (then an optional "
            f"softmax). Received: last layer={chain[0].name!r}"
        )
    last = tail[-1]
    if last.get_config().get("activation") not in ("linear", "softmax"):
        raise ValueError(
            f"The last Dense layer {last.name!r} must return logits or softmax "
            f"probabilities. Received: activation={last.get_config()['activation']!r}"
        )
    return tail, tensor


def _as_functional(sequential):
    """The same layers (and weights) as a functional model, whose graph can be
    walked."""
    if not sequential.built or not sequential.layers:
        raise ValueError(
            f"The Sequential model {sequential.name!r} has no input shape yet. "
            "Start it with keras.Input(shape) or call its build(input_shape) "
            "first."
        )
    inputs = keras.Input(batch_shape=sequential.input_shape)
    x = inputs
    for layer in sequential.layers:
        x = layer(x)
    return keras.Model(inputs, x, name=sequential.name)


def _is_softmax(layer):
    if isinstance(layer, keras.layers.Softmax):
        return True
    return isinstance(layer, keras.layers.Activation) and (
        layer.get_config().get("activation") == "softmax"
    )
