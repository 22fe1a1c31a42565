"""The measuring device: a frozen VGG19 returning the feature maps of several layers for RGB images
in [0, 1] (:class:`FeatureExtractor`), run layer by layer so that the image's gradient takes the
fastest way (:func:`conv3x3_relu`) with each layer's weights prepared once (:class:`ConvWeights`).
"""

from __future__ import annotations

import contextlib
import copy
import os
import threading
from typing import Iterable, NamedTuple, Sequence

import keras
import tensorflow as tf

from tf_nst import layers

WEIGHTS_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
# ImageNet mean in BGR order, as subtracted by keras.applications.vgg19.preprocess_input.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


class WeightsError(RuntimeError):
    """The VGG19 weights cannot be found or read; ``str(err)`` is one line saying what to do."""


def cached_weights_path() -> str:
    """Where Keras keeps the downloaded weights (``$KERAS_HOME/models`` or ``~/.keras/models``)."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "models", WEIGHTS_FILE)


def _how_to_provide() -> str:
    return (f"pass --weights=/path/to/{WEIGHTS_FILE} (weights=... in Python) or copy that file to "
            f"{os.path.dirname(cached_weights_path())}/")


def _load_vgg19(weights: str, dtype_policy: str | None) -> keras.Model:
    if weights != "imagenet":
        path = os.path.expanduser(weights)
        if not os.path.isfile(path):
            raise WeightsError(f"VGG19 weights file not found: {weights}; {_how_to_provide()}")
        weights = path
    policy = keras.config.dtype_policy()
    try:
        if dtype_policy:
            keras.config.set_dtype_policy(dtype_policy)
        return keras.applications.VGG19(include_top=False, weights=weights,
                                        input_shape=(None, None, 3))
    except Exception as err:  # Keras raises bare Exceptions for download failures.
        if weights == "imagenet":
            raise WeightsError(
                f"the VGG19 ImageNet weights are not in Keras' cache and cannot be downloaded; "
                f"{_how_to_provide()}") from None
        first_line = (str(err).strip() or type(err).__name__).splitlines()[0]
        raise WeightsError(f"cannot read VGG19 weights from {weights} ({first_line[:120]}); "
                           f"it must be Keras' {WEIGHTS_FILE}") from None
    finally:
        keras.config.set_dtype_policy(policy)


def build_extractor(layer_names: Iterable[str], pooling: str = "max", weights: str = "imagenet",
                    dtype_policy: str | None = None) -> keras.Model:
    """VGG19 up to the deepest of ``layer_names``, with a dict output ``{keras_name: features}``;
    ``pooling='avg'`` replaces each max-pooling by an average pooling of the same window (Gatys et
    al. 2016, Sec. 2: it "improves the gradient flow and one obtains slightly more appealing
    results")."""
    wanted = {layers.keras_name(n) for n in layer_names}
    if not wanted:
        raise ValueError("no layers requested")
    if pooling not in ("max", "avg"):
        raise ValueError(f"pooling must be 'max' or 'avg', not {pooling!r}")
    deepest = layers.deepest(sorted(wanted))
    vgg = _load_vgg19(weights, dtype_policy)
    vgg.trainable = False

    inputs = keras.Input(shape=(None, None, 3), name="caffe_bgr")
    x = inputs
    outputs = {}
    for layer in vgg.layers[1:]:
        if pooling == "avg" and isinstance(layer, keras.layers.MaxPooling2D):
            x = keras.layers.AveragePooling2D(layer.pool_size, layer.strides, layer.padding,
                                              name=layer.name.replace("pool", "avgpool"),
                                              dtype=layer.dtype_policy)(x)
        else:
            x = layer(x)
        if layer.name in wanted:
            outputs[layer.name] = x
        if layer.name == deepest:
            break
    model = keras.Model(inputs, outputs, name=f"vgg19_to_{deepest}")
    model.trainable = False
    return model


def caffe_preprocess(image: tf.Tensor) -> tf.Tensor:
    """RGB pixels in [0, 1] -> the network's input: BGR, 0-255, ImageNet mean subtracted."""
    bgr = tf.reverse(tf.cast(image, tf.float32), axis=[-1]) * 255.0
    return bgr - tf.constant(CAFFE_MEAN_BGR, tf.float32)


def input_gradient_kernel(kernel: tf.Tensor) -> tf.Tensor:
    """K' of :func:`conv3x3_relu`: ``kernel`` ``[3, 3, in, out]`` flipped in space, its channel
    axes swapped (``[3, 3, out, in]``)."""
    return tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])


def conv3x3_relu(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor,
                 gradient_kernel: tf.Tensor | None = None) -> tf.Tensor:
    """``relu(conv(x, kernel) + bias)``, 3x3 'SAME' stride 1 (every VGG19 convolution), whose
    gradient with respect to ``x`` (the network is frozen) is the forward convolution
    conv(dL/dz, K'), K' of :func:`input_gradient_kernel` (pass it as ``gradient_kernel`` to make it
    once): oneDNN runs TensorFlow's own, ``Conv2DBackpropInput``, slower (docs/performance.md)
    except on inputs of few channels (the image), which keep it."""
    if kernel.shape[2] < 16:
        return tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias))

    @tf.custom_gradient
    def forward(x):
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias))

        def grad(dy):
            dz = tf.raw_ops.ReluGrad(gradients=dy, features=y)
            flipped = input_gradient_kernel(kernel) if gradient_kernel is None else gradient_kernel
            return tf.nn.conv2d(dz, flipped, 1, "SAME")

        return y, grad

    return forward(x)


class ConvWeights(NamedTuple):
    """One convolution's weights in the dtype its layer computes in, with its input-gradient kernel
    (:func:`input_gradient_kernel`; ``None`` for the image's layer, which keeps the native one)."""

    kernel: tf.Tensor
    bias: tf.Tensor
    gradient_kernel: tf.Tensor | None


def layer_plan(model: keras.Model) -> list[tuple[str, str, tf.Variable | None, tf.Variable | None]]:
    """``(layer name, 'conv' | 'max' | 'avg', kernel, bias)`` for each layer of a VGG19 cut (Keras'
    VGG19 has only 3x3 'same' convolutions with a ReLU and 2x2 poolings of stride 2)."""
    plan = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            plan.append((layer.name, "conv", layer.kernel.value, layer.bias.value))
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            kind = "max" if isinstance(layer, keras.layers.MaxPooling2D) else "avg"
            plan.append((layer.name, kind, None, None))
    return plan


class FeatureExtractor:
    """Feature maps of named VGG19 layers for RGB images in [0, 1]: ``extractor(images)`` returns
    ``{keras_layer_name: [batch, H_l, W_l, N_l] tensor}``.

    With a mixed ``precision`` every layer computes in bfloat16 (or float16) except the first, which
    sees the image in float32: bfloat16 would round the 0-255 input to steps of 0.5-1 grey level,
    hiding the optimiser's late small changes. With 3 input channels it costs little
    (docs/performance.md, "Design figures").
    """

    def __init__(self, layer_names: Sequence[str], pooling: str = "max",
                 weights: str = "imagenet", precision: str = "float32") -> None:
        self.layer_names = tuple(dict.fromkeys(layers.keras_name(n) for n in layer_names))
        policy = None if precision == "float32" else precision
        self.model = build_extractor(self.layer_names, pooling, weights, policy)
        self.compute_dtype = tf.as_dtype(keras.DTypePolicy(precision).compute_dtype)
        self._plan = layer_plan(self.model)
        self._bound = threading.local()  # see computing_with
        # No prepared variables under a distribution strategy: MultiWorkerMirroredStrategy
        # broadcasts every variable as it is made, and CPU collectives carry no bfloat16. Each
        # replica prepares its own copies (tf_nst.distribute.on_each_device, computing_with).
        self._weights = None
        if not tf.distribute.has_strategy():
            with tf.init_scope():  # eager, also when built inside a tf.function
                self._weights = self._prepared_variables()

    @property
    def variables(self) -> list[tf.Variable]:
        """The network's ``tf.Variable`` s, its only copy of the weights, which exporters track (TF1
        SavedModel loaders and the TFLite converter do not find Keras' variable wrappers)."""
        return [w.value for w in self.model.weights]

    def prepare_weights(self, only_changed: bool = False) -> dict[str, ConvWeights]:
        """Each convolution's :class:`ConvWeights` computed from :attr:`variables` (in a traced
        function: ops reading them). With ``only_changed``, a kernel or bias already in its layer's
        dtype is ``None``, so that calls read its variable instead of a copy."""
        prepared = {}
        convs = [layer for layer in self._plan if layer[1] == "conv"]
        for i, (name, _, kernel, bias) in enumerate(convs):
            dtype = self.compute_dtype if i else tf.float32
            k = tf.cast(tf.convert_to_tensor(kernel), dtype)
            parts = [k, tf.cast(tf.convert_to_tensor(bias), dtype)]
            if only_changed:
                parts = [None if v.dtype == dtype else p for p, v in zip(parts, (kernel, bias))]
            prepared[name] = ConvWeights(*parts,
                                         None if k.shape[2] < 16 else input_gradient_kernel(k))
        return prepared

    def _prepared_variables(self) -> dict[str, ConvWeights]:
        """:meth:`prepare_weights` made once and kept in non-trainable variables, so that no step
        casts, flips or transposes a kernel (docs/performance.md)."""
        kept = {}
        for name, prepared in self.prepare_weights(only_changed=True).items():
            kept[name] = ConvWeights(*(
                None if value is None
                else tf.Variable(value, trainable=False, name=f"{name}_{part}")
                for value, part in zip(prepared, ConvWeights._fields)))
        return kept

    def preparing_each_call(self) -> "FeatureExtractor":
        """This extractor preparing its kernels from :attr:`variables` at every call: what exported
        graphs run, so that a saved model holds only the one copy of the weights it tracks."""
        each_call = copy.copy(self)
        each_call._weights = None
        each_call._bound = threading.local()
        return each_call

    @contextlib.contextmanager
    def computing_with(self, weights: dict[str, ConvWeights]):
        """Calls made inside (in this thread: mirrored replicas are traced in threads of their own)
        compute with ``weights``, this network's :meth:`prepare_weights`: how a replica computes
        with the copies made on its device, passed to it through ``strategy.run``."""
        previous = getattr(self._bound, "weights", None)
        self._bound.weights = weights
        try:
            yield self
        finally:
            self._bound.weights = previous

    def __call__(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """The requested feature maps of ``images`` (``[B, H, W, 3]``, RGB in [0, 1]): the maps of
        ``self.model``, computed layer by layer by :func:`conv3x3_relu`."""
        weights = getattr(self._bound, "weights", None) or self._weights or self.prepare_weights()
        x = caffe_preprocess(images)
        out = {}
        for name, kind, kernel_variable, bias_variable in self._plan:
            if kind == "conv":
                prepared = weights[name]
                kernel, bias, gradient_kernel = (
                    None if w is None else tf.convert_to_tensor(w) for w in (
                        kernel_variable if prepared.kernel is None else prepared.kernel,
                        bias_variable if prepared.bias is None else prepared.bias,
                        prepared.gradient_kernel))
                x = conv3x3_relu(tf.cast(x, kernel.dtype), kernel, bias, gradient_kernel)
            else:
                pool = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
                x = pool(x, 2, 2, "VALID")
            if name in self.layer_names:
                out[name] = x
        return out
