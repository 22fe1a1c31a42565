"""Visual tools: figures of what the method works with, as labelled image grids.

``python -m tf_nst.visualize {feature-maps,gram,sweep,ablation,creative} --output=FIG.jpg ...``;
one module per subcommand, what they share in :mod:`tf_nst.visualize.common`.
"""
