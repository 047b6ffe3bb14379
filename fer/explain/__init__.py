"""Explanations: attribution maps, filter visualisation and measures of how good the maps are.

No Streamlit here; the Saliency and Filters pages call these objects and functions.

    from fer.explain import METHODS, MEASURES
    maps = METHODS["Grad-CAM"](model, faces_uint8, class_index)      # (N,48,48) in [0,1]
    table = MEASURES["deletion"](model, dataset, ["Grad-CAM"], n=14)

- `fer.explain.saliency`: the five gradient methods (`Explainer` objects on tf-keras-vis) and the two
  that need only predictions (occlusion and RISE, `fer.explain.occlusion`), `compute_maps`;
- `fer.explain.measure`: energy inside the generated faces' expression regions, deletion /
  insertion curves, the model-randomisation sanity check (`Measure` objects);
- `fer.explain.filters`: conv layers, feature maps, preferred inputs by gradient ascent
  (one batched GradientTape ascent over all filters, and tf-keras-vis' ActivationMaximization).

A new attribution method is one `Explainer` subclass added to `METHODS`; the Saliency page,
the measures and the cache keys pick it up from there.
"""
from fer.explain.measure import MEASURES, Measure  # noqa: F401
from fer.explain.saliency import (  # noqa: F401
    DEFAULT_OPTIONS,
    FORWARD_NAMES,
    METHOD_NAMES,
    METHODS,
    UPSAMPLING,
    Explainer,
    applicable_methods,
    as_input,
    cam_grid,
    cam_layer,
    compute_maps,
    default_methods,
    map_targets,
    predict,
    prepared,
)

__all__ = ["METHODS", "METHOD_NAMES", "FORWARD_NAMES", "default_methods", "MEASURES", "DEFAULT_OPTIONS", "UPSAMPLING", "Explainer", "Measure",
           "applicable_methods", "cam_grid", "cam_layer", "compute_maps", "map_targets", "predict", "prepared", "as_input"]
