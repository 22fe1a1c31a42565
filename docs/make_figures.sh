#!/bin/sh
# Rebuild the figures of README.md and docs/: the bundled example at the top of the README, the
# paper's Fig. 3 in the default formulation and the same pair at three sizes (docs/objective.md),
# and those of the visual tools and "Creative controls". Each 512 px run takes minutes on a
# 2-core CPU, the 1024 px one about four times as long.
# Inputs: examples/content.png (CC0), examples/style.jpg (NASA, public domain) and Van Gogh's
# Starry Night (public domain), which is not in the repository: STARRY=path/to/starry_night.jpg.
set -e
cd "$(dirname "$0")/.."
PY=${PYTHON:-python}
STARRY=${STARRY:?set STARRY=path/to/starry_night.jpg}
SIZE=${SIZE:-192}
STEPS=${STEPS:-100}
VIS="$PY -m tf_nst.visualize"
RUN="--image_size=$SIZE --num_steps=$STEPS --overwrite"
CAT="--content=examples/content.png"

$PY -m tf_nst $CAT --style=examples/style.jpg --output=docs/example.jpg --overwrite
SIZES=$(mktemp -d)
for size in 256 512; do
    $PY -m tf_nst $CAT --style="$STARRY" --image_size=$size --stop_tolerance=0 \
        --output="$SIZES/size_$size.jpg" --overwrite
done
$PY -m tf_nst $CAT --style="$STARRY" --image_size=1024 --scales=2 --steps_per_scale=400,100 \
    --stop_tolerance=0 --output="$SIZES/size_1024.jpg" --overwrite
$PY -c "import sys, numpy as np; from PIL import Image; from tf_nst import grid
cells = [np.asarray(Image.open(f'{sys.argv[1]}/size_{n}.jpg').convert('RGB').resize(
    (432, 288), Image.LANCZOS)) for n in (256, 512, 1024)]
grid.save(grid.make_grid(cells, ['256 px', '512 px', '1024 px']), 'docs/sizes_256_512_1024.jpg')
" "$SIZES"
$VIS ablation $CAT --style="$STARRY" --image_size=128 --num_steps=150 --ratios=5e-3,5e-2,5e-1,5 \
    --no_inputs --output=docs/fig3_layers_ratios.jpg --overwrite
$VIS feature-maps --image=examples/content.png --layer=conv2_1 --channels=16 --columns=8 \
    --image_size=128 --output=docs/feature_maps_conv2_1.jpg --overwrite
$VIS gram --image="$STARRY" --cell=128 --output=docs/gram_starry_night.jpg --overwrite
$VIS creative $CAT --style="$STARRY,examples/style.jpg" $RUN --output=docs/creative_controls.jpg
