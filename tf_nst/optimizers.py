"""Optimisers of the image's pixels, written as pure functions of tensor state.

Each optimiser (:class:`Optimizer`) has ``init(image) -> state``, ``evaluation_point(state)``
(where the next loss and gradient are computed), ``update(state, loss, grad, comparable_loss)``,
``image(state)`` (the image to show) and ``steps_taken(state)`` (what a weight schedule follows).
The state is a ``NamedTuple`` of tensors, no ``tf.Variable``, so a step runs in an exported
graph's ``tf.while_loop`` and a served model keeps nothing between requests. One step is one
loss-and-gradient evaluation. Images are ``[batch, H, W, C]`` in [0, 1]; every scalar of the state
is per image, so each image of a batch is optimised as if alone.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import tensorflow as tf


def _dot(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Per-image inner product of two ``[B, H, W, C]`` tensors -> ``[B]``."""
    return tf.reduce_sum(a * b, axis=[1, 2, 3])


def _per_image(v: tf.Tensor) -> tf.Tensor:
    """Broadcast a ``[B]`` tensor against ``[B, H, W, C]``."""
    return v[:, None, None, None]


def _push_slots(slots: tuple[tf.Tensor, ...], new: tf.Tensor, store: tf.Tensor
                ) -> tuple[tf.Tensor, ...]:
    """The curvature pairs' ``slots`` (oldest first) with ``new`` appended and the oldest dropped
    for the images where ``store`` ``[B]`` is true. One ``[B, H, W, C]`` tensor per slot: when every
    image stores, the push passes references, where a stacked ``[m, ...]`` one would be copied."""
    shifted = slots[1:] + (new,)

    def selected():
        mask = _per_image(store)
        return tuple(tf.where(mask, a, b) for a, b in zip(shifted, slots))

    return tf.cond(tf.reduce_all(store), lambda: shifted,
                   lambda: tf.cond(tf.reduce_any(store), selected, lambda: slots))


def _signed_frequencies(n: tf.Tensor) -> tf.Tensor:
    """The DFT's frequencies in cycles per sample, ``[n]``, as ``numpy.fft.fftfreq(n)``."""
    k = tf.range(n)
    return tf.cast(tf.where(k < (n + 1) // 2, k, k - n), tf.float32) / tf.cast(n, tf.float32)


def frequency_gains(height: tf.Tensor, width: tf.Tensor, largest_gain: float,
                    onesided: bool = True) -> tf.Tensor:
    """g(f) = clip(0.5 / |f|, 1, largest_gain) for each frequency f of an ``H x W`` image, |f| in
    cycles per pixel: ``[H, W // 2 + 1]`` (the frequencies ``rfft2d`` keeps) or ``[H, W]``. The
    gain is 1 from the Nyquist radius 0.5 outwards (the spectrum's corners) and grows as 1/|f|
    towards the low frequencies, where the loss's curvature is small."""
    fy = _signed_frequencies(height)[:, None]
    fx = _signed_frequencies(width)[None, :width // 2 + 1 if onesided else width]  # g is even in f
    radius = tf.sqrt(fy * fy + fx * fx)
    return tf.clip_by_value(0.5 / tf.maximum(radius, 1e-12), 1.0, largest_gain)


def _dft_matrices(n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """cos(2 pi jk / n) and sin(2 pi jk / n), ``[n, n]`` (jk reduced mod n first, for accuracy)."""
    k = tf.range(n)
    phase = tf.math.floormod(k[:, None] * k[None, :], n)
    angle = tf.cast(phase, tf.float32) * (2.0 * math.pi / tf.cast(n, tf.float32))
    return tf.cos(angle), tf.sin(angle)


def _filter_by_matmuls(planes: tf.Tensor, gains: tf.Tensor) -> tf.Tensor:
    """Re(F_H^-1 (gains * (F_H x F_W^T)) F_W^-T) for ``planes`` ``[..., H, W]``, the DFT written
    as real matrix products (F = C - iS), so that it converts to TFLite builtins."""
    height, width = tf.shape(planes)[-2], tf.shape(planes)[-1]
    cos_h, sin_h = _dft_matrices(height)
    cos_w, sin_w = _dft_matrices(width)
    a, b = tf.matmul(cos_h, planes), tf.matmul(sin_h, planes)
    real = gains * (tf.matmul(a, cos_w) - tf.matmul(b, sin_w))   # the spectrum is real - i imag
    imag = gains * (tf.matmul(a, sin_w) + tf.matmul(b, cos_w))
    p = tf.matmul(cos_h, real) + tf.matmul(sin_h, imag)          # inverse: F^-1 = (C + iS) / n
    q = tf.matmul(sin_h, real) - tf.matmul(cos_h, imag)
    return (tf.matmul(p, cos_w) - tf.matmul(q, sin_w)) / tf.cast(height * width, tf.float32)


def frequency_scaling(x: tf.Tensor, largest_gain: float, dft: str = "fft") -> tf.Tensor:
    """P x = F^-1 diag(g) F x for each image and channel of ``[B, H, W, C]``, g of
    :func:`frequency_gains`: real, positive and even in f, so P is symmetric positive definite. As
    L-BFGS's initial inverse Hessian it takes up to ``largest_gain`` times longer steps along the
    low frequencies (the deep layers see the image at 1/8 and 1/16 of its resolution).
    ``dft='matmul'`` computes the same with real matrix products (TFLite has no inverse FFT)."""
    planes = tf.transpose(x, [0, 3, 1, 2])
    height, width = tf.shape(x)[1], tf.shape(x)[2]
    if dft == "fft":
        gains = tf.complex(frequency_gains(height, width, largest_gain), 0.0)
        out = tf.signal.irfft2d(tf.signal.rfft2d(planes) * gains,
                                fft_length=tf.stack([height, width]))
    elif dft == "matmul":
        out = _filter_by_matmuls(planes, frequency_gains(height, width, largest_gain, False))
    else:
        raise ValueError(f"unknown dft {dft!r}")
    return tf.transpose(out, [0, 2, 3, 1])


class Optimizer(Protocol):
    def init(self, image: tf.Tensor): ...
    def evaluation_point(self, state) -> tf.Tensor: ...
    def update(self, state, loss: tf.Tensor, grad: tf.Tensor,
               comparable_loss: tf.Tensor | None = None): ...
    def image(self, state) -> tf.Tensor: ...
    def steps_taken(self, state) -> tf.Tensor: ...


class AdamState(NamedTuple):
    image: tf.Tensor    # current pixels [B, H, W, C]
    m: tf.Tensor        # first-moment estimate
    v: tf.Tensor        # second-moment estimate
    t: tf.Tensor        # number of updates so far (float32 scalar)


class Adam:
    """Adam (Kingma & Ba 2015) on the pixels, projected back to [0, 1] after every update."""

    def __init__(self, learning_rate: float = 0.02, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8) -> None:
        self.learning_rate = learning_rate
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def init(self, image: tf.Tensor) -> AdamState:
        image = tf.convert_to_tensor(image, tf.float32)
        zeros = tf.zeros_like(image)
        return AdamState(image, zeros, zeros, tf.constant(0.0))

    def evaluation_point(self, state: AdamState) -> tf.Tensor:
        return state.image

    def image(self, state: AdamState) -> tf.Tensor:
        return state.image

    def steps_taken(self, state: AdamState) -> tf.Tensor:
        return state.t

    def update(self, state: AdamState, loss: tf.Tensor, grad: tf.Tensor,
               comparable_loss: tf.Tensor | None = None) -> AdamState:
        del loss, comparable_loss  # Adam never compares losses
        b1, b2 = self.beta_1, self.beta_2
        t = state.t + 1.0
        m = b1 * state.m + (1.0 - b1) * grad
        v = b2 * state.v + (1.0 - b2) * tf.square(grad)
        step = self.learning_rate * tf.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        image = tf.clip_by_value(state.image - step * m / (tf.sqrt(v) + self.epsilon), 0.0, 1.0)
        return AdamState(image, m, v, t)


class LbfgsState(NamedTuple):
    x: tf.Tensor        # last accepted point [B, H, W, C]
    f: tf.Tensor        # loss at x [B]
    g: tf.Tensor        # gradient at x
    d: tf.Tensor        # search direction from x
    alpha: tf.Tensor    # step length along d of the pending trial point [B]
    trial: tf.Tensor    # next point to evaluate = clip(x + alpha d)
    s: tuple[tf.Tensor, ...]  # m steps x_{k+1} - x_k, each [B, H, W, C], oldest first
    y: tuple[tf.Tensor, ...]  # m gradient changes g_{k+1} - g_k, likewise
    rho: tf.Tensor      # [m, B] 1 / (s.y); 0 marks an empty slot
    iteration: tf.Tensor  # [B] accepted iterations (0 = nothing evaluated yet)


class Lbfgs:
    """Limited-memory BFGS (Nocedal 1980; Liu & Nocedal 1989) with a backtracking line search.

    Each step evaluates the loss once, at the pending trial point. If it satisfies Armijo's
    condition f(x + s) <= f(x) + c1 g.s it is accepted, the pair (s, y) is stored if s.y > 0
    (keeping the inverse Hessian positive definite), and the next direction, from the two-loop
    recursion with H0 = gamma P (P = :func:`frequency_scaling` or the identity), is
    tried at step length 1; otherwise the step shrinks by a quadratic fit's minimiser, clamped to
    [0.1, 0.5] of the last. Pixels stay in [0, 1]; the first direction is steepest descent moving
    no pixel by more than ``initial_step``.
    """

    def __init__(self, initial_step: float = 0.02, history: int = 10, c1: float = 1e-4,
                 min_step: float = 1e-6, frequency_gain: float = 0.0, dft: str = "fft") -> None:
        self.initial_step, self.history = initial_step, history
        self.c1, self.min_step = c1, min_step
        self.frequency_gain, self.dft = frequency_gain, dft

    def init(self, image: tf.Tensor) -> LbfgsState:
        x = tf.clip_by_value(tf.convert_to_tensor(image, tf.float32), 0.0, 1.0)
        zeros = tf.zeros_like(x)
        batch = tf.shape(x)[0]
        hist = (zeros,) * self.history  # empty slots (rho = 0) share one zero image
        return LbfgsState(
            x=x, f=tf.zeros([batch]), g=zeros, d=zeros, alpha=tf.ones([batch]), trial=x,
            s=hist, y=hist, rho=tf.zeros([self.history, batch]),
            iteration=tf.zeros([batch], tf.int32))

    def evaluation_point(self, state: LbfgsState) -> tf.Tensor:
        return state.trial

    def image(self, state: LbfgsState) -> tf.Tensor:
        return state.x

    def steps_taken(self, state: LbfgsState) -> tf.Tensor:
        return state.iteration

    def _steepest(self, g: tf.Tensor) -> tf.Tensor:
        largest = tf.reduce_max(tf.abs(g), axis=[1, 2, 3])
        return -g * _per_image(self.initial_step / tf.maximum(largest, 1e-30))

    def _precondition(self, v: tf.Tensor) -> tf.Tensor:
        """P v, P of the initial inverse Hessian (the identity unless a preconditioner is set)."""
        if self.frequency_gain > 0:
            return frequency_scaling(v, self.frequency_gain, self.dft)
        return v

    def _two_loop(self, g: tf.Tensor, s: tuple[tf.Tensor, ...], y: tuple[tf.Tensor, ...],
                  rho: tf.Tensor) -> tf.Tensor:
        """-H g by the two-loop recursion (Nocedal & Wright, Algorithm 7.4); newest pair last."""
        q = g
        alphas = []
        for i in reversed(range(self.history)):
            a = rho[i] * _dot(s[i], q)
            q = q - _per_image(a) * y[i]
            alphas.append(a)
        alphas.reverse()
        # Initial inverse Hessian H0 = gamma P, with gamma = s.y / y.P.y from the newest pair
        # (Nocedal & Wright, Eq. 7.20, generalised to P).
        sy, ypy = _dot(s[-1], y[-1]), _dot(y[-1], self._precondition(y[-1]))
        gamma = tf.where(rho[-1] > 0, sy / tf.maximum(ypy, 1e-30), tf.ones_like(sy))
        r = _per_image(gamma) * self._precondition(q)
        for i in range(self.history):
            b = rho[i] * _dot(y[i], r)
            r = r + _per_image(alphas[i] - b) * s[i]
        return -r

    def update(self, state: LbfgsState, loss: tf.Tensor, grad: tf.Tensor,
               comparable_loss: tf.Tensor | None = None) -> LbfgsState:
        """``loss`` and ``grad`` at the trial point; ``comparable_loss`` [B] (default ``loss``): the
        trial's loss under the weights ``state.f`` was measured with (a weight schedule may have
        changed them since), which the sufficient-decrease test compares with ``state.f``."""
        f_new, g_new = tf.cast(loss, tf.float32), grad
        f_test = f_new if comparable_loss is None else tf.cast(comparable_loss, tf.float32)
        first = tf.equal(state.iteration, 0)
        step = state.trial - state.x
        slope = _dot(state.g, step)  # directional derivative along the step actually taken
        sufficient = f_test <= state.f + self.c1 * slope
        accept = first | sufficient

        # Accepted: store the curvature pair if it has positive curvature.
        y_new = g_new - state.g
        sy = _dot(step, y_new)
        store = accept & ~first & (sy > 1e-10 * tf.sqrt(_dot(step, step) * _dot(y_new, y_new)))
        s_hist = _push_slots(state.s, step, store)
        y_hist = _push_slots(state.y, y_new, store)
        rho_pushed = tf.concat([state.rho[1:], (1.0 / tf.where(store, sy, 1.0))[None]], 0)
        rho = tf.where(store[None], rho_pushed, state.rho)

        accept_b = _per_image(accept)
        x = tf.where(accept_b, state.trial, state.x)
        f = tf.where(accept, f_new, state.f)
        g = tf.where(accept_b, g_new, state.g)

        # New direction after an acceptance; restart from steepest descent if it is not a descent
        # direction or the line search has collapsed.
        direction = self._two_loop(g, s_hist, y_hist, rho)
        has_history = rho[-1] > 0
        fallback = _per_image(~has_history | (_dot(direction, g) >= 0))
        direction = tf.where(fallback, self._steepest(g), direction)

        # Rejected: shrink the step by a safeguarded quadratic fit of f along the step.
        curvature = f_test - state.f - slope
        ratio = -slope / tf.maximum(2.0 * curvature, 1e-30)
        shrunk = state.alpha * tf.clip_by_value(ratio, 0.1, 0.5)
        collapsed = ~accept & (shrunk < self.min_step)

        # Forgetting the history: rho = 0 makes every stored pair a no-op in the two-loop
        # recursion (and gamma falls back to 1), so the pairs themselves need not be erased.
        rho = tf.where(collapsed[None], tf.zeros_like(rho), rho)
        d_if_rejected = tf.where(_per_image(collapsed), self._steepest(g), state.d)
        d = tf.where(accept_b, direction, d_if_rejected)
        alpha = tf.where(accept | collapsed, tf.ones_like(shrunk), shrunk)
        trial = tf.clip_by_value(x + _per_image(alpha) * d, 0.0, 1.0)
        return LbfgsState(x=x, f=f, g=g, d=d, alpha=alpha, trial=trial, s=s_hist, y=y_hist,
                          rho=rho, iteration=state.iteration + tf.cast(accept, tf.int32))


def from_config(config, builtin_ops: bool = False) -> Optimizer:
    """The optimiser a :class:`tf_nst.config.Config` names, with its settings; ``builtin_ops``
    for a TFLite export (the frequency preconditioner's DFT as matrix products)."""
    if config.optimizer == "adam":
        return Adam(config.learning_rate)
    if config.optimizer == "lbfgs":
        return Lbfgs(initial_step=config.learning_rate, history=config.lbfgs_history,
                     frequency_gain=config.lbfgs_frequency_gain,
                     dft="matmul" if builtin_ops else "fft")
    raise ValueError(f"unknown optimizer {config.optimizer!r}")
