"""Explanations: attribution maps, filter visualisation and measures of how good the maps are.

No Streamlit here; the Saliency and Filters pages call these functions.

    from fer.explain import METHODS, applicable_methods
    maps = METHODS["Grad-CAM"](model, faces_uint8, class_index)      # (N,48,48) in [0,1]

- `fer.explain.saliency`: the five methods (tf-keras-vis) and `applicable_methods`;
- `fer.explain.filters`: conv layers, feature maps, preferred inputs by gradient ascent
  (one batched GradientTape ascent over all filters, and tf-keras-vis' ActivationMaximization);
- `fer.explain.measure`: energy inside the generated faces' expression regions, deletion /
  insertion curves, the model-randomisation sanity check.
"""
from fer.explain.saliency import (  # noqa: F401
    CAM_METHODS,
    DEFAULT_OPTIONS,
    UPSAMPLING,
    GRADIENT_METHODS,
    METHOD_NAMES,
    METHODS,
    OPTIONS_USED,
    applicable_methods,
    as_input,
    cam_layer,
    compute_maps,
    method_options,
    predict,
    prepared,
)

__all__ = ["METHODS", "METHOD_NAMES", "GRADIENT_METHODS", "CAM_METHODS", "DEFAULT_OPTIONS", "OPTIONS_USED",
           "UPSAMPLING", "applicable_methods", "cam_layer", "compute_maps", "method_options", "predict", "prepared", "as_input"]
