"""Splitting a functional Keras classifier for `RandomLabelModel.from_classifier`.

The graph surgery behind the paper's copy-depth heads on any network. A cut
is one tensor of the classifier's graph that every path from the input to the
output passes through; it is named by the layer whose output it is
(`split_after`, as torchvision and timm name their nodes) or, for chains, by
the first layer after it (`split_layer`). From a cut come the feature
extractor (the classifier up to the cut, over its own layers), the class head
(the subgraph from the cut to the output, rebuilt on a new input with fresh
layers holding the classifier's weights, returning logits) and `C` fresh
copies of that subgraph: `CopiedHeads` (fused) for chains of the layers it
supports, `CopiedTail` for any other subgraph.

A layer inside a nested model is named by its path, `outer/inner`: the nested
model (functional, or a subclassed layer whose `call` Keras can trace on
symbolic tensors) is then opened, i.e. its layers are called again on the
outer graph's tensors, which makes a functional graph over the same layers.

Walking the graph reads Keras's `_keras_history`, `_inbound_nodes`,
`_nodes_by_depth` and `_run_through_graph`: private attributes, kept to this
module. A `Sequential` model is first rebuilt as a functional model over the
same layers.
"""

import collections
import difflib
import inspect

import keras
from keras import tree

from keras_rlr import copied_heads
from keras_rlr.copied_heads import CopiedHeads
from keras_rlr.copied_tail import CopiedTail
from keras_rlr.heads import RandomLabelHeads

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
    split_after=None,
    probes_after=(),
    probe_kind="copies",
):
    """The parts of a `RandomLabelModel` cut out of `classifier`.

    See `RandomLabelModel.from_classifier` for the arguments.

    Returns:
        `Parts(feature_extractor, class_head, random_heads, num_classes,
        probe_extractor, probes, probe_class_head)`; `class_head` is None with
        `single_output`; `probe_extractor` (`probe_class_head`) is None
        without probes deeper (shallower) than the main split.
    """
    if probe_kind not in PROBE_KINDS:
        raise ValueError(
            f"probe_kind must be one of {PROBE_KINDS}. Received: "
            f"probe_kind={probe_kind!r}"
        )
    if split_layer is not None and split_after is not None:
        raise ValueError(
            "Name the split once: split_after (the layer whose output is cut) or "
            "split_layer (the first layer after the cut), not both. "
            f"Received: split_layer={split_layer!r}, split_after={split_after!r}"
        )
    probe_layers, probes_after = list(probe_layers or ()), list(probes_after or ())
    paths = [
        n
        for n in (split_layer, split_after, *probe_layers, *probes_after)
        if isinstance(n, str) and "/" in n
    ]
    graph = _Graph(classifier, paths)
    if split_after is not None:
        cut = graph.cut_after(split_after, "split_after")
    elif split_layer is not None:
        cut = graph.cut_before(split_layer, "split_layer")
    else:
        cut = graph.logits_node().input_tensors[0]
        graph.check_cut(cut, "split_layer", None)
    tail = graph.tail(cut)
    num_classes = int(tail[-1].outputs[0].shape[-1])
    image = graph.input
    if cut is image:
        # Copy the whole network: an extractor without weights.
        feature_extractor = keras.Model(image, image, name="identity")
    else:
        feature_extractor = keras.Model(
            image, cut, name=f"{graph.model.name}_extractor"
        )
    class_head, inside = None, {}
    if not single_output:
        class_head, inside = _class_head(tail, cut)
    heads = dict(
        num_copies=num_classes,
        num_outputs=num_random_labels,
        width_multiplier=width_multiplier,
        conv_implementation=conv_implementation,
    )
    random_heads = _copies(tail, cut, name="random_heads", **heads)
    probe_extractor, probes, probe_class_head = None, None, None
    if probe_layers or probes_after:
        probe_extractor, probes, probe_class_head = _probes(
            graph,
            cut,
            class_head,
            inside,
            [("probe_layers", n, probe_layers) for n in probe_layers]
            + [("probes_after", n, probes_after) for n in probes_after],
            probe_kind=probe_kind,
            **heads,
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


# What a probe is: "copies", `C` fresh copies of the tail from its cut (the
# paper's copy-depth heads); "pooled", the cut's features averaged over every
# position (spatial or token) into `C` fresh dense heads of `R` outputs: far
# cheaper, and a different instrument (metrics `..._pooled_<name>`).
PROBE_KINDS = ("copies", "pooled")


def copy_depth(tail):
    """The number of weighted layers (`Dense`, `Conv2D`) in `tail`."""
    return sum(isinstance(t, keras.layers.Dense | keras.layers.Conv2D) for t in tail)


def probe_name(path):
    """The metric suffix of a probe placed with `probes_after=[path]`: the path
    with `/` written as `.` (`random_label_accuracy_block_5_add`,
    `random_label_accuracy_vit_backbone.vit_encoder.transformer_block_1`)."""
    return path.replace("/", ".")


def _class_head(tail, cut):
    """The tail rebuilt on a new input with fresh layers holding the
    classifier's weights, returning logits; and its tensors by the
    classifier's tensors (where shallower probes read)."""
    inputs = keras.Input(tuple(cut.shape[1:]), dtype=cut.dtype, name="features")
    last = {id(n.operation) for n in tail[_logits_position(tail) :]}
    clones = {}

    def clone(op):
        if not isinstance(op, keras.layers.Layer):
            return op  # a weightless operation (x[:, 0], ops.add, ...)
        if id(op) not in clones:
            config = op.get_config()
            if id(op) in last:
                config = _logits_config(op, config)
            clones[id(op)] = (_from_config(op, config), op)
        return clones[id(op)][0]

    tensors = _rebuild(tail, cut, inputs, clone)
    for copy, layer in clones.values():
        copy.set_weights(layer.get_weights())
    outputs = tensors[id(tail[-1].outputs[0])]
    return keras.Model(inputs, outputs, name="class_head"), tensors


def _copies(tail, cut, name, num_copies, num_outputs, width_multiplier, **conv):
    """`C` fresh copies of the tail: fused when it is a chain `CopiedHeads`
    supports, else a `CopiedTail` over a template of fresh layers."""
    chain = _chain(tail, cut)
    flat = all(
        len(n.input_tensors[0].shape) == 2
        for n in tail
        if isinstance(n.operation, keras.layers.Dense)
    )
    if chain is not None and flat and copied_heads.supports(chain):
        return CopiedHeads(
            chain,
            num_copies=num_copies,
            num_outputs=num_outputs,
            width_multiplier=width_multiplier,
            name=name,
            # Under mixed precision the copies compute in float32.
            dtype="float32" if _mixed(chain[-1]) else None,
            **conv,
        )
    if width_multiplier != 1:
        raise ValueError(
            "width_multiplier widens only tails that are chains of Dense, Conv2D "
            "and the layers CopiedHeads supports; this tail "
            f"({', '.join(n.operation.name for n in tail)}) branches or holds "
            "other layers. Use width_multiplier=1 or split nearer the output. "
            f"Received: width_multiplier={width_multiplier}"
        )
    last = {id(n.operation) for n in tail[_logits_position(tail) :]}
    inputs = keras.Input(tuple(cut.shape[1:]), dtype=cut.dtype, name="features")
    fresh = {}

    def clone(op):
        if not isinstance(op, keras.layers.Layer):
            return op
        if id(op) not in fresh:
            config = _without_regularizers(op.get_config())
            if id(op) in last:
                config = _logits_config(op, config, num_outputs)
            fresh[id(op)] = _from_config(op, config)
        return fresh[id(op)]

    tensors = _rebuild(tail, cut, inputs, clone)
    template = keras.Model(
        inputs, tensors[id(tail[-1].outputs[0])], name=f"{name}_copy"
    )
    return CopiedTail(template, num_copies=num_copies, name=name)


def _pooled_heads(tensor, num_classes, num_outputs, name):
    """Features averaged over all positions, then `C` dense heads of `R`."""
    inputs = keras.Input(tuple(tensor.shape[1:]), dtype=tensor.dtype, name="features")
    x = inputs
    pooling = {
        3: keras.layers.GlobalAveragePooling1D,
        4: keras.layers.GlobalAveragePooling2D,
        5: keras.layers.GlobalAveragePooling3D,
    }
    if len(x.shape) in pooling:
        x = pooling[len(x.shape)](name="pool")(x)
    elif len(x.shape) != 2:
        raise ValueError(
            "A pooled probe reads features of rank 2 to 5 (batch, ..., channels). "
            f"Received: probe_kind='pooled', features of shape {tensor.shape}"
        )
    heads = RandomLabelHeads(num_classes, num_outputs, dtype="float32", name="heads")
    return keras.Model(inputs, heads(x), name=f"probe_{name}")


def _probes(graph, cut, class_head, inside, requests, num_copies, probe_kind, **heads):
    """The probes, and the extractor and class head that compute their features.

    A probe deeper than the main split reads a tensor of the classifier's graph
    before it: the extractor gets it as a further output. A shallower one reads
    a tensor inside the class head: the class head gets it as a further output.
    Either way one forward pass computes the main features, the class logits
    and every probe's features. A probe from `probe_layers` is named `d<k>`, `k`
    the weighted layers of its tail; one from `probes_after` by its layer's path
    (`probe_name`); with `probe_kind="pooled"` the name starts with `pooled_`.
    Returns `(probe_extractor, probes, probe_class_head)`, the
    deeper probes first in `probes`.
    """
    main_tail = graph.tail(cut)
    depth = copy_depth([n.operation for n in main_tail])
    position = graph.position[id(cut)]
    tensors, probes = [], {}
    inner, shallow = [], {}
    for argument, layer_name, given in requests:
        if argument == "probes_after":
            tensor = graph.cut_after(layer_name, argument, given)
        else:
            tensor = graph.cut_before(layer_name, argument, given)
        probe_tail = graph.tail(tensor)
        probe_depth = copy_depth([n.operation for n in probe_tail])
        if argument == "probe_layers":
            name = f"d{probe_depth}"
            if probe_depth == depth and probe_kind == "copies":
                raise ValueError(
                    f"A probe at {layer_name!r} has the main heads' copy depth "
                    f"{depth}: it would repeat them. Put probes at other depths, "
                    "or name the cut by the layer whose output it is, "
                    f"probes_after=[{graph.producer_name(tensor)!r}] (named by "
                    f"that layer). Received: probe_layers={given}"
                )
            if name in probes or name in shallow:
                raise ValueError(
                    f"Two probe layers have copy depth {probe_depth}; give one "
                    "layer per depth, or name the cuts by the layers whose "
                    "outputs they are with probes_after=[...] (probes named by "
                    f"layer). Received: probe_layers={given}"
                )
        else:
            name = probe_name(layer_name)
            if tensor is cut:
                raise ValueError(
                    f"A probe after {layer_name!r} reads the main heads' features: "
                    "it would repeat them. Put probes at other cuts. "
                    f"Received: probes_after={given}"
                )
            if name in probes or name in shallow:
                raise ValueError(
                    f"Two probes are named {name!r}: give each cut once. "
                    f"Received: probes_after={given}"
                )
        if probe_kind == "pooled":
            name = f"pooled_{name}"
            probe = _pooled_heads(tensor, num_copies, heads["num_outputs"], name)
        else:
            probe = _copies(
                probe_tail, tensor, name=f"probe_{name}", **heads, num_copies=num_copies
            )
        if graph.position[id(tensor)] < position:
            tensors.append(tensor)
            probes[name] = probe
            continue
        if class_head is None:
            raise ValueError(
                f"A probe at {layer_name!r} would read features inside the class "
                "head, and single_output has none. Put probes before the main "
                f"split. Received: {argument}={given}"
            )
        inner.append(inside[id(tensor)])
        shallow[name] = probe
    # The same layers as the classifier (and the main extractor): one graph.
    probe_extractor = None
    if tensors:
        probe_extractor = keras.Model(
            graph.input, [cut, *tensors], name=f"{graph.model.name}_probe_extractor"
        )
    # The same layers as the class head.
    probe_class_head = None
    if inner:
        probe_class_head = keras.Model(
            class_head.inputs, [class_head.outputs[0], *inner], name="probe_class_head"
        )
    return probe_extractor, {**probes, **shallow}, probe_class_head


class _Graph:
    """A classifier's graph in topological order, and where it can be cut."""

    def __init__(self, classifier, paths):
        _check_model(classifier)
        if isinstance(classifier, keras.Sequential):
            classifier = _as_functional(classifier)
        if len(classifier.inputs) != 1 or len(classifier.outputs) != 1:
            raise ValueError(
                "from_classifier needs a classifier with one input and one output. "
                f"Received: {len(classifier.inputs)} inputs, "
                f"{len(classifier.outputs)} outputs"
            )
        self.paths = _paths(classifier)
        self.names = {}  # id(tensor) -> the path of the layer that made it
        if paths:
            classifier = _opened(classifier, paths, self.names)
        self.model = classifier
        self.input, self.output = classifier.inputs[0], classifier.outputs[0]
        self.input_name = self.input._keras_history.operation.name
        self.nodes = [
            node
            for depth in sorted(classifier._nodes_by_depth, reverse=True)
            for node in classifier._nodes_by_depth[depth]
            if node.operation is not None and not node.is_input
        ]
        self.position = {id(self.input): -1}
        last_use = {id(self.output): len(self.nodes)}
        for i, node in enumerate(self.nodes):
            for t in node.outputs:
                self.position[id(t)] = i
            for t in node.input_tensors:
                last_use[id(t)] = i
        # live[i]: the tensors made at or before node i that a later node reads.
        live, self.live = {}, {}
        if id(self.input) in last_use:
            live[id(self.input)] = self.input
        self.live[-1] = list(live.values())
        for i, node in enumerate(self.nodes):
            for t in node.outputs:
                if last_use.get(id(t), -1) > i:
                    live[id(t)] = t
            for key in [k for k in live if last_use[k] <= i]:
                del live[key]
            self.live[i] = list(live.values())
        self.node_names = [self.name(node) for node in self.nodes]

    def name(self, node):
        return self.names.get(id(node.outputs[0]), node.operation.name)

    def producer_name(self, tensor):
        i = self.position[id(tensor)]
        return self.input_name if i < 0 else self.node_names[i]

    def find(self, layer_name, argument, given):
        """The index of the node of `layer_name` (the input layer: -1)."""
        if layer_name == self.input_name:
            return -1
        found = [i for i, n in enumerate(self.node_names) if n == layer_name]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise ValueError(
                f"Layer {layer_name!r} is called {len(found)} times in the "
                "classifier (a shared layer): its output is not one tensor. Name "
                f"another layer. Received: {argument}={given!r}"
            )
        if layer_name in self.paths or any(
            p.endswith("/" + layer_name) for p in self.paths
        ):
            inside = [p for p in self.paths if p.endswith("/" + layer_name)]
            hint = f" Name it by its path: {inside[0]!r}." if inside else ""
            raise ValueError(
                f"Layer {layer_name!r} is not on the path from the input to the "
                f"output.{hint} Received: {argument}={given!r}"
            )
        names = [layer.name for layer in self.model.layers]
        if len(self.paths) <= 40:
            known = f"its layers are {names}"
        else:
            close = difflib.get_close_matches(layer_name, self.paths, n=3)
            known = f"the closest names are {close}" if close else "see summary()"
        raise ValueError(
            f"The classifier has no layer named {layer_name!r}; {known} (a layer "
            "inside a nested model is named by its path, 'outer/inner'). "
            f"Received: {argument}={given!r}"
        )

    def cut_after(self, layer_name, argument, given=None):
        """The output of `layer_name`, checked to be a cut."""
        given = layer_name if given is None else given
        i = self.find(layer_name, argument, given)
        if i < 0:
            tensor = self.input
        else:
            outputs = self.nodes[i].outputs
            if len(outputs) != 1:
                raise ValueError(
                    f"Layer {layer_name!r} returns {len(outputs)} tensors: a cut "
                    "is one tensor. Name a layer that returns one. "
                    f"Received: {argument}={given!r}"
                )
            tensor = outputs[0]
        self.check_cut(tensor, argument, given, layer_name)
        self.tail(tensor, argument, given)
        return tensor

    def cut_before(self, layer_name, argument, given=None):
        """The input of `layer_name`, the first layer after the cut."""
        given = layer_name if given is None else given
        i = self.find(layer_name, argument, given)
        if i < 0:
            raise ValueError(
                f"{layer_name!r} is the input layer; {argument} names a layer after "
                f"the cut. Received: {argument}={given!r}"
            )
        node = self.nodes[i]
        after = "split_after" if argument == "split_layer" else "probes_after"
        inputs = list({id(t): t for t in node.input_tensors}.values())
        if len(inputs) != 1:
            what = self._readers_description(node)
            raise ValueError(
                f"Layer {layer_name!r} reads {len(inputs)} tensors ({what}), so no "
                "single tensor is cut at its input. Name the cut by the layer "
                f"whose output it is, {after}=<layer>: "
                f"{self._nearest_cuts(i - 1, after)}. Received: {argument}={given!r}"
            )
        tensor = inputs[0]
        readers = [
            j
            for j, n in enumerate(self.nodes)
            if j != i and any(t is tensor for t in n.input_tensors)
        ]
        if readers:
            others = [self.node_names[j] for j in readers]
            merge = next(
                (
                    self.node_names[j]
                    for j in range(min(readers + [i]), len(self.nodes))
                    if len({id(t) for t in self.nodes[j].input_tensors}) > 1
                ),
                None,
            )
            where = f", and the branches merge at {merge!r}" if merge else ""
            raise ValueError(
                f"Cannot split the classifier at {layer_name!r}: its input also "
                f"feeds {others}{where}, so {layer_name!r} is not the one first "
                "layer of the tail. Name the cut by the layer whose output it is: "
                f"{self._cut_text(self.position[id(tensor)], after)}. "
                f"Received: {argument}={given!r}"
            )
        self.check_cut(tensor, argument, given, layer_name)
        self.tail(tensor, argument, given)
        return tensor

    def check_cut(self, tensor, argument, given, layer_name=None):
        """Refuses a tensor that a skip connection (or a mask) jumps over."""
        i = self.position[id(tensor)]
        others = [t for t in self.live[i] if t is not tensor]
        if not others:
            return
        after = "split_after" if argument.startswith("split") else "probes_after"
        nearest = self._nearest_cuts(i, after)
        where = f"at {layer_name!r}" if layer_name else "there"
        # What the tensors jumped over reach after the cut; a mask among them?
        reached = {id(t): self.producer_name(t) for t in others}
        for node in self.nodes[i + 1 :]:
            masks = tree.flatten(node.arguments.kwargs.get("mask"))
            source = next((reached[id(m)] for m in masks if id(m) in reached), None)
            if source is not None:
                raise ValueError(
                    f"Cannot cut the classifier {where}: {self.name(node)!r} also "
                    f"reads a mask that {source!r} computes before the cut (its "
                    "mask= argument), which one tensor cannot carry. Cut where "
                    f"no mask is in use: {nearest}. Received: {argument}={given!r}"
                )
            if any(id(t) in reached for t in node.input_tensors):
                for t in node.outputs:
                    reached[id(t)] = self.name(node)
        jumped = others[0]
        j = next(
            j
            for j in range(i + 1, len(self.nodes))
            if any(t is jumped for t in self.nodes[j].input_tensors)
        )
        raise ValueError(
            f"Cannot cut the classifier {where}: {self.node_names[j]!r} also reads "
            f"the output of {self.producer_name(jumped)!r}, which skips over that "
            "point (a skip connection), so no single tensor separates the layers "
            "before it from those after. Cut where the branches have merged: "
            f"{nearest}. Received: {argument}={given!r}"
        )

    def _nearest_cuts(self, i, after):
        cuts = [
            k
            for k in range(-1, len(self.nodes) - 1)
            if len(self.live[k]) == 1 and self.position[id(self.live[k][0])] == k
        ]
        before = [k for k in cuts if k <= i][-1:]
        later = [k for k in cuts if k > i][:1]
        return " or ".join(self._cut_text(k, after) for k in before + later)

    def _cut_text(self, k, after):
        name = self.input_name if k < 0 else self.node_names[k]
        if after == "probes_after":
            return f"probes_after=[{name!r}]"
        return f"split_after={name!r}"

    def _readers_description(self, node):
        mask = tree.flatten(node.arguments.kwargs.get("mask"))
        tensors = {id(t): t for t in node.input_tensors}.values()
        return ", ".join(
            self.producer_name(t) + (" (its mask)" if any(t is m for m in mask) else "")
            for t in tensors
        )

    def logits_node(self):
        """The node that makes the logits: the last `Dense` (or 1x1
        convolution), before an optional flatten and softmax."""
        nodes = _without_softmax(self.nodes)
        i = _logits_position(nodes)
        op = nodes[i].operation if nodes else None
        if not isinstance(op, _LOGITS):
            last = self.nodes[-1].operation.name if self.nodes else None
            raise ValueError(
                "The classifier must end with its logits: a Dense layer, or a 1x1 "
                "convolution flattened to (batch, classes) (then an optional "
                f"softmax). Received: last layer={last!r}"
            )
        if op.get_config().get("activation") not in ("linear", "softmax"):
            raise ValueError(
                f"The last {op.__class__.__name__} layer {op.name!r} must return "
                "logits or softmax probabilities. Received: "
                f"activation={op.get_config()['activation']!r}"
            )
        output = nodes[-1].outputs[0]
        units = op.get_config().get("units", op.get_config().get("filters"))
        spatial = nodes[i].outputs[0].shape[1:-1]
        if (
            len(output.shape) != 2
            or output.shape[-1] != units
            or any(d != 1 for d in spatial)
        ):
            raise ValueError(
                f"The classifier's logits layer {op.name!r} must give "
                "(batch, classes) once flattened: a Dense layer, or a convolution "
                f"whose output is 1x1. Received: {op.name!r} returns "
                f"{tuple(nodes[i].outputs[0].shape)}, the classifier "
                f"{tuple(output.shape)}"
            )
        return nodes[i]

    def tail(self, tensor, argument="split_layer", given=None):
        """The nodes after the cut `tensor`, a final softmax dropped."""
        logits = self.logits_node()
        position = self.position[id(tensor)]
        if tensor is not self.input and position >= self.nodes.index(logits):
            raise ValueError(
                f"Nothing is left to copy after {self.producer_name(tensor)!r}: "
                f"the cut must lie before the logits layer {logits.operation.name!r}. "
                f"Cut earlier. Received: {argument}={given!r}"
            )
        return _without_softmax(self.nodes[position + 1 :])


# The layers that make the logits, and the weightless reshapes that may follow
# them (MobileNet and MobileNetV3 end with a 1x1 Conv2D, then Flatten or Reshape).
_LOGITS = (
    keras.layers.Dense,
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
)
_RESHAPES = (keras.layers.Flatten, keras.layers.Reshape)


def _without_softmax(nodes):
    nodes = list(nodes)
    while nodes and _is_softmax(nodes[-1].operation):
        nodes = nodes[:-1]
    return nodes


def _logits_position(nodes):
    """The index in a tail `nodes` (softmax dropped) of the logits layer: the
    last node, or the last before trailing `Flatten`/`Reshape` layers."""
    i = len(nodes) - 1
    while i > 0 and isinstance(nodes[i].operation, _RESHAPES):
        i -= 1
    return i


def _logits_config(op, config, num_outputs=None):
    """`config` of a tail layer `op` adapted to the copies' output: the logits
    layer linear (with `num_outputs` units or filters) and float32 under mixed
    precision, a trailing reshape to `(num_outputs,)`, in float32 too."""
    if isinstance(op, _RESHAPES):
        if num_outputs is not None and isinstance(op, keras.layers.Reshape):
            if tuple(config["target_shape"]) != (-1,):
                config["target_shape"] = (num_outputs,)
    else:
        config["activation"] = "linear"
        if num_outputs is not None:
            key = "units" if isinstance(op, keras.layers.Dense) else "filters"
            config[key] = num_outputs
    if _mixed(op):  # float32 logits (and softmax)
        config["dtype"] = "float32"
    return config


def _check_model(classifier):
    if isinstance(classifier, keras.Sequential):
        return
    if not isinstance(classifier, keras.Model) or not getattr(
        classifier, "_nodes_by_depth", None
    ):
        raise ValueError(
            "from_classifier splits a functional or Sequential Keras model: the "
            "layers of a subclassed model's call() cannot be cut apart. Build "
            "the classifier as keras.Model(inputs, outputs), or pass its parts "
            "to RandomLabelModel(feature_extractor=..., num_classes=...). "
            f"Received: classifier={classifier!r}"
        )


def _rebuild(nodes, cut, inputs, operation):
    """Calls `operation(node.operation)` for each node on new tensors, from
    `inputs` in place of `cut`. Returns the new tensors by the old ones' ids."""
    tensors = {id(cut): inputs}
    for node in nodes:
        args, kwargs = node.arguments.fill_in(tensors)
        outputs = operation(node.operation)(*args, **kwargs)
        for old, new in zip(node.outputs, tree.flatten(outputs), strict=True):
            tensors[id(old)] = new
    return tensors


def _chain(nodes, cut):
    """The layers of `nodes` if each reads only the one before it, else None."""
    layers, previous = [], cut
    for node in nodes:
        op = node.operation
        if (
            not isinstance(op, keras.layers.Layer)
            or len(node.arguments.args) != 1
            or node.arguments.args[0] is not previous
            or node.arguments.keras_tensors[1:]
            or len(node.outputs) != 1
        ):
            return None
        layers.append(op)
        previous = node.outputs[0]
    return layers


def _mixed(layer):
    """Whether `layer` computes in a lower precision than float32."""
    return layer.dtype_policy.compute_dtype != "float32"


def _from_config(layer, config):
    """A fresh layer like `layer`, from `config`; one line if it cannot be."""
    try:
        return layer.__class__.from_config(config)
    except Exception as error:  # noqa: BLE001 - any failure: cannot be copied
        raise ValueError(
            f"Layer {layer.name!r} ({layer.__class__.__name__}) cannot be copied: "
            "its class does not re-create it from its own get_config() "
            f"({type(error).__name__}: {str(error).splitlines()[-1]}), so a "
            "model cut there could neither copy nor reload it. Cut outside it, "
            f"or fix its get_config. Received: layer={layer.name!r}"
        ) from None


def _without_regularizers(config):
    for key in ("kernel_regularizer", "bias_regularizer", "activity_regularizer"):
        if key in config:
            config[key] = None  # the copies are never decayed
    return config


def _paths(model, prefix=""):
    """Every layer's path: `name`, and `outer/inner` inside nested layers."""
    paths = []
    for layer in model._flatten_layers(include_self=False, recursive=False):
        path = prefix + layer.name
        paths.append(path)
        paths += _paths(layer, path + "/")
    return paths


def _opened(model, paths, names):
    """`model` as a functional model over the same layers, with the nested
    layers on `paths` called layer by layer; `names` gets each tensor's path."""
    prefixes = {p.rsplit("/", k)[0] for p in paths for k in range(1, p.count("/") + 1)}
    inputs = [
        keras.Input(batch_shape=t.shape, dtype=t.dtype, name=t.name)
        for t in model.inputs
    ]
    outputs = _replay(model, inputs, "", prefixes, names)
    return keras.Model(inputs, outputs, name=model.name)


def _replay(function, inputs, prefix, prefixes, names):
    def operation_fn(op):
        path = prefix + op.name

        def call(*args, **kwargs):
            if path in prefixes:
                outputs = _open(op, path, args, kwargs, prefixes, names)
            else:
                if prefix and isinstance(op, keras.layers.Layer):
                    # Now a layer of the split model's own config: it must
                    # come back from it (saving).
                    _from_config(op, op.get_config())
                outputs = op(*args, **kwargs)
            for t in tree.flatten(outputs):
                names.setdefault(id(t), path)
            return outputs

        return call

    return function._run_through_graph(inputs, operation_fn=operation_fn)


def _open(op, path, args, kwargs, prefixes, names):
    """Calls `op`'s layers one by one on `args`: a functional model's graph, or
    a subclassed layer's `call` traced on the symbolic tensors."""
    if getattr(op, "_nodes_by_depth", None):
        return _replay(op, tree.flatten(args[0]), path + "/", prefixes, names)
    deeper = [p for p in prefixes if p.startswith(path + "/")]
    if deeper:
        raise ValueError(
            f"Cannot open {deeper[0]!r}: inside the subclassed layer {path!r}, "
            "only its direct sublayers can be named. "
            f"Received: a path under {deeper[0]!r}"
        )
    accepted = inspect.signature(op.call).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in accepted}
    try:
        outputs = op.call(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - any failure means: cannot trace
        raise ValueError(
            f"Cannot name the layers inside {path!r}: its call() does not run on "
            f"symbolic Keras tensors ({type(error).__name__}: {error}). Split "
            f"before or after {path!r}. Received: a path under {path!r}"
        ) from None
    sublayers = {
        id(layer): layer.name
        for layer in op._flatten_layers(include_self=False, recursive=False)
    }
    # Name the outputs of its direct sublayers, walking back to its inputs.
    stop = {id(t) for t in tree.flatten((args, kwargs))}
    seen, stack = set(), list(tree.flatten(outputs))
    while stack:
        t = stack.pop()
        if id(t) in stop or id(t) in seen:
            continue
        seen.add(id(t))
        layer, node_index, _ = t._keras_history
        node = layer._inbound_nodes[node_index]
        name = sublayers.get(id(layer), layer.name)
        for out in node.outputs:
            names.setdefault(id(out), f"{path}/{name}")
        stack += node.input_tensors
    return outputs


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
