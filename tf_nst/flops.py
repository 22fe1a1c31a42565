"""Hand count of the floating-point operations of one optimisation step.

One step (:func:`tf_nst.objective.make_step`) is VGG19's forward pass up to the deepest layer
used, the style layers' Gram matrices, and the backward pass to the *image* only (no filter
gradients): one input-gradient convolution per convolution, conv1_1's included, and one matrix
product per Gram matrix. A multiply-add counts as 2 FLOPs, as TensorFlow's profiler counts them.
Element-wise work (bias, ReLU, pooling, losses, the optimiser update) is left out: O(H W N)
against the convolutions' O(9 H W N^2), and bound by memory. ``tests/test_flops.py`` checks the
count against TensorFlow's per-op FLOP statistics of the traced step.
"""

from __future__ import annotations

from typing import Iterable, NamedTuple

from tf_nst import layers


class StepFlops(NamedTuple):
    forward_conv: int     # Conv2D, every layer up to the deepest used
    input_grad_conv: int  # their input gradients (forward Conv2Ds of flipped kernels; conv1_1's:
    #                       Conv2DBackpropInput, see tf_nst.features.conv3x3_relu)
    gram: int             # Gram matrices F^T F of the style layers, forward
    gram_grad: int        # their gradient F (dG + dG^T)

    @property
    def total(self) -> int:
        return self.forward_conv + self.input_grad_conv + self.gram + self.gram_grad


def layer_shapes(height: int, width: int, deepest: str) -> list[tuple[str, int, int, int, int]]:
    """``(keras_name, H, W, C_in, C_out)`` of each 3x3 convolution up to ``deepest``."""
    convs = [s for s in layers.output_shapes(height, width, deepest) if "_conv" in s[0]]
    inputs = [3] + [c for *_, c in convs[:-1]]
    return [(name, h, w, c_in, c_out) for (name, h, w, c_out), c_in in zip(convs, inputs)]


def step_flops(height: int, width: int, content_layers: Iterable[str],
               style_layers: Iterable[str], batch: int = 1) -> StepFlops:
    """FLOPs of one loss-and-gradient evaluation for ``batch`` images of ``height x width``."""
    content = [layers.keras_name(n) for n in content_layers]
    style = [layers.keras_name(n) for n in style_layers]
    shapes = layer_shapes(height, width, layers.deepest(content + style))
    conv = sum(2 * 9 * h * w * cin * cout for _, h, w, cin, cout in shapes)
    grams = {name: 2 * h * w * n * n for name, h, w, _, n in shapes}
    gram = sum(grams[name] for name in style)
    return StepFlops(batch * conv, batch * conv, batch * gram, batch * gram)
