"""The benchmark's hand FLOP count against TensorFlow's own per-op FLOP statistics of the traced
step, and the absence of filter gradients from what the step runs."""

import collections

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import ops as tf_ops

from tf_nst import Config, StyleTransfer
from tf_nst.flops import layer_shapes, step_flops


def reachable_ops(concrete) -> list[tf.Operation]:
    """The ops the outputs depend on: what the function runtime keeps after pruning."""
    seen, stack, out = set(), [t.op for t in concrete.outputs], []
    while stack:
        op = stack.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        out.append(op)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return out


def profiler_flops(graph: tf.Graph, op: tf.Operation) -> int:
    """TensorFlow's registered FLOP count of one op (what tf.compat.v1.profiler reports)."""
    if op.type == "BatchMatMulV2":
        # The registry reads `transpose_a`, an attribute BatchMatMulV2 does not have (it has
        # `adj_x`), so it miscounts x^T y; count from the shapes the same way it does otherwise.
        a = op.inputs[0].shape.as_list()
        k = a[-2] if op.get_attr("adj_x") else a[-1]
        return 2 * k * int(np.prod(op.outputs[0].shape.as_list()))
    return int(tf_ops.get_stats_for_node_def(graph, op.node_def, "flops").value)


@pytest.fixture(scope="module")
def traced_step(vgg_weights):
    rng = np.random.default_rng(0)
    content = rng.random((36, 44, 3), dtype=np.float32)
    style = rng.random((40, 40, 3), dtype=np.float32)
    st = StyleTransfer(content, style, Config(image_size=44, weights=vgg_weights))
    concrete = st.stepper._step.get_concrete_function(st.state, st.targets, st.weights)
    return st, concrete


def test_layer_shapes_follow_vgg19_pooling():
    shapes = layer_shapes(37, 50, "block3_conv1")
    assert [s[0] for s in shapes] == ["block1_conv1", "block1_conv2", "block2_conv1",
                                      "block2_conv2", "block3_conv1"]
    assert shapes[0] == ("block1_conv1", 37, 50, 3, 64)
    assert shapes[2] == ("block2_conv1", 18, 25, 64, 128)
    assert shapes[4] == ("block3_conv1", 9, 12, 128, 256)


def test_hand_count_for_one_layer():
    # conv1_1 on 4x5: 2 * 9 * 20 * 3 * 64 FLOPs; its Gram: 2 * 20 * 64^2, forward and backward.
    f = step_flops(4, 5, (), ("conv1_1",), batch=2)
    assert f.forward_conv == f.input_grad_conv == 2 * 2 * 9 * 20 * 3 * 64
    assert f.gram == f.gram_grad == 2 * 2 * 20 * 64 * 64
    assert f.total == 2 * (f.forward_conv + f.gram)


def test_flop_count_matches_tensorflow_statistics(traced_step):
    st, concrete = traced_step
    by_type = collections.Counter()
    for op in reachable_ops(concrete):
        if op.type in ("Conv2D", "Conv2DBackpropInput", "BatchMatMulV2", "MatMul"):
            by_type[op.type] += profiler_flops(concrete.graph, op)
    height, width = st.content.shape[1:3]
    expected = step_flops(height, width, st.config.content_layers, st.config.style_layers)
    # Input gradients run as forward convolutions (features.conv3x3_relu), except conv1_1's.
    conv1_1_grad = step_flops(height, width, (), ("conv1_1",)).input_grad_conv
    assert by_type["Conv2DBackpropInput"] == conv1_1_grad
    assert by_type["Conv2D"] == expected.forward_conv + expected.input_grad_conv - conv1_1_grad
    assert by_type["BatchMatMulV2"] + by_type["MatMul"] == expected.gram + expected.gram_grad


def test_step_never_computes_filter_gradients(traced_step):
    _, concrete = traced_step
    kept = collections.Counter(op.type for op in reachable_ops(concrete))
    # conv1_1 ... conv5_1 forward, and the input gradients of conv1_2 ... conv5_1 as Conv2Ds
    assert kept["Conv2D"] == 13 + 12
    assert kept["Conv2DBackpropInput"] == 1  # conv1_1's, into the image's 3 channels
    assert kept["Conv2DBackpropFilter"] == 0
    assert kept["BiasAddGrad"] == 0
