#!/bin/sh
# Rebuild the figures of the README and docs/: the result at the top of the README (512 px, 500
# L-BFGS steps: minutes on a 2-core CPU, see the README) and those of docs/creative.md and
# docs/visualize.md (about 15 minutes on a 2-core CPU at the default SIZE and STEPS).
# Inputs: examples/content.png (CC0), examples/style.jpg (NASA, ESA; public domain) and Van Gogh's
# The Starry Night (public domain; STARRY=path/to/starry_night.jpg).
set -e
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
STARRY=${STARRY:-../shared/images/starry_night.jpg}
SIZE=${SIZE:-192}
STEPS=${STEPS:-100}

$PY -m tf_nst --preset=gatys2016 --content=examples/content.png --style="$STARRY" \
    --output=docs/cat_starry_night.jpg --overwrite
$PY tools/alpha_beta_sweep.py --content=examples/content.png --style="$STARRY" \
    --image_size="$SIZE" --num_steps="$STEPS" --output=docs/alpha_beta_sweep.jpg --overwrite
$PY tools/layer_ablation.py --content=examples/content.png --style="$STARRY" \
    --image_size="$SIZE" --num_steps="$STEPS" --output=docs/layer_ablation.jpg --overwrite
$PY tools/feature_maps.py --image=examples/content.png --layer=conv2_1 --channels=16 \
    --columns=8 --image_size=128 --output=docs/feature_maps_conv2_1.jpg --overwrite
$PY tools/gram_heatmap.py --image="$STARRY" --cell=128 --output=docs/gram_starry_night.jpg --overwrite
$PY tools/creative_figure.py --content=examples/content.png --styles="$STARRY,examples/style.jpg" \
    --image_size="$SIZE" --num_steps="$STEPS" --output=docs/creative_controls.jpg --overwrite
