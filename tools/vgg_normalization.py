"""Compute the normalised VGG19's per-filter factors and write tf_nst/data/vgg19_normalization.npz.

Gatys et al. (2016, Sec. 2) normalise VGG19 "by scaling the weights such that the mean activation
of each convolutional filter over images and positions is equal to one". A ReLU map divided by a
positive constant, with the next layer's input weights multiplied by it, leaves the rest of the
network unchanged, so each filter's factor is simply its mean activation in the raw network.

The photos are the colour photographs that scikit-image, scikit-learn and Matplotlib ship in their
wheels (grey ones would leave the colour-opponent filters' means near zero); chelsea, the bundled
content example, is held out. Each is used at several sizes, whole and in crops:

    pip install scikit-image scikit-learn matplotlib && python tools/vgg_normalization.py
    python tools/vgg_normalization.py --check photo1.jpg photo2.jpg   # spread on held-out photos
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

# (package, path inside it) of each colour photograph.
FIT_IMAGES = (("skimage", "data/astronaut.png"), ("skimage", "data/coffee.png"),
              ("skimage", "data/motorcycle_left.png"), ("skimage", "data/motorcycle_right.png"),
              ("skimage", "data/rocket.jpg"), ("sklearn", "datasets/images/china.jpg"),
              ("sklearn", "datasets/images/flower.jpg"),
              ("matplotlib", "mpl-data/sample_data/grace_hopper.jpg"))
SIDES = (224, 384, 512)  # longest side of each resized copy
CROPS = 5                # square crops per resized copy (corners and centre)


def fit_images():
    """The fitting photos as float RGB arrays in [0, 1]."""
    import importlib

    from PIL import Image

    for package, path in FIT_IMAGES:
        folder = os.path.dirname(importlib.import_module(package).__file__)
        with Image.open(os.path.join(folder, path)) as image:
            yield np.asarray(image.convert("RGB"), np.float32) / 255.0


def views(image: np.ndarray):
    """The image at each of SIDES: whole, mirrored and in CROPS square crops of 3/4 of its
    shorter side."""
    import tensorflow as tf

    for side in SIDES:
        h, w = image.shape[:2]
        size = (max(16, round(h * side / max(h, w))), max(16, round(w * side / max(h, w))))
        resized = tf.image.resize(image[None], size, antialias=True)[0].numpy().clip(0, 1)
        yield resized
        yield resized[:, ::-1]
        crop = 3 * min(size) // 4
        for top, left in ((0, 0), (0, size[1] - crop), (size[0] - crop, 0),
                          (size[0] - crop, size[1] - crop),
                          ((size[0] - crop) // 2, (size[1] - crop) // 2))[:CROPS]:
            yield resized[top:top + crop, left:left + crop]


def mean_activations(extractor, images) -> dict[str, np.ndarray]:
    """Each filter's activation averaged over positions, then over views (each view counts once)."""
    sums, count = {}, 0
    for image in images:
        for view in views(image):
            features = extractor(view[None])
            for name, fmap in features.items():
                sums[name] = sums.get(name, 0.0) + np.asarray(fmap, np.float64).mean(axis=(0, 1, 2))
            count += 1
    return {name: total / count for name, total in sums.items()}


def raw_extractor():
    from tf_nst import layers
    from tf_nst.features import FeatureExtractor

    convs = [n for n in layers.KERAS_LAYERS if "conv" in n]
    return FeatureExtractor(convs, precision="float32")


def report(means: dict[str, np.ndarray], factors: dict[str, np.ndarray]) -> None:
    """Per layer: the quartiles of the held-out per-filter means in the normalised network."""
    from tf_nst import layers

    for name, mean in means.items():
        ratio = mean / factors[name]
        live = ratio[factors[name] > 0]
        q1, q2, q3 = np.percentile(live, [25, 50, 75])
        print(f"{layers.paper_name(name):8s} median {q2:5.2f}  quartiles {q1:5.2f}-{q3:5.2f}  "
              f"layer mean {live.mean():5.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "..", "tf_nst",
                                                         "data", "vgg19_normalization.npz"))
    parser.add_argument("--check", nargs="*", metavar="PHOTO",
                        help="report per-filter means of these held-out photos in the shipped "
                             "normalisation instead of fitting")
    args = parser.parse_args(argv)
    extractor = raw_extractor()
    if args.check is not None:
        from tf_nst import images, normalization

        photos = [images.read_image(p) for p in args.check]
        report(mean_activations(extractor, photos), normalization.factors())
        return 0
    means = mean_activations(extractor, fit_images())
    np.savez_compressed(args.output, **{k: v.astype(np.float16) for k, v in means.items()})
    print(f"wrote {args.output} ({os.path.getsize(args.output)} bytes)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
