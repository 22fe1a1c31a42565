#!/bin/sh
# Rebuild the README figures: the result at the top (the paper's preset at 512 px, 500 L-BFGS
# steps: 30-40 minutes on this 2-core VM) and those of "Creative controls" (about 15 minutes).
# Inputs: examples/content.png (CC0), examples/style.jpg (NASA, public domain) and Van Gogh's
# Starry Night (public domain) from the shared test images (STARRY=path/to/starry_night.jpg).
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
