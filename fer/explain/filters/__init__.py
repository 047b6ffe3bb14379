"""What a conv layer's filters respond to: feature maps of a face, and preferred inputs found by
gradient ascent, three engines that share one objective, one Adam and one result
(`common.py`):

- `visualize_filters` (`pixel.py`): ONE batched `tf.GradientTape` ascent for all filters at once. The batch
  holds one image per filter; image i's objective is filter i's mean activation, so a single
  forward/backward pass moves every image towards its own filter. Adam steps in grey levels,
  jitter (the same random roll for the whole batch each step), total-variation and L2 (towards
  mean grey) penalties; the whole loop is one compiled `tf.function`; a fixed seed makes reruns
  identical. For a plain Conv2D layer each image goes through only its own filter of that layer
  (one depthwise convolution over all images' channels) instead of all C filters.
- `visualize_filters_fourier` (`fourier.py`): the image parametrised by its spectrum, with
  random roll, zoom and rotation each step (see `FourierSettings`).
- `visualize_filters_tfkv`: tf-keras-vis' `ActivationMaximization`, one filter per call (the
  library's usual loop), with the same objective, regularisers, optimizer and start images.
  Its input range is set to the models' 0..255 explicitly (tf-keras-vis' default happens to be
  (0, 255) too, but its regularisers then see raw grey levels: here both penalties are computed
  on the face scaled to [0,1], so the weights mean the same thing in both implementations).

The objective of each filter is divided by the layer's mean |activation| on the start images,
so the regularisation weights have the same meaning in every layer.
"""
from fer.explain.filters.common import GRAY, FilterImages  # noqa: F401
from fer.explain.filters.fourier import FourierSettings, visualize_filters_fourier  # noqa: F401
from fer.explain.filters.layers import (  # noqa: F401
    FILTER_LAYER_TYPES,
    _Extractor,
    _extractor,
    conv_layers,
    feature_maps,
    filter_activation,
)
from fer.explain.filters.pixel import AscentSettings, visualize_filters  # noqa: F401
from fer.explain.filters.tfkv import visualize_filters_tfkv  # noqa: F401


def preferred_inputs(model, layer: str, engine: str, settings: tuple, n_filters: int = 0) -> FilterImages:
    """Preferred inputs of a layer's filters by `engine`: "batched" (pixel space), "fourier" or
    "tfkv" (its first `n_filters` filters); `settings` is an `AscentSettings.key()`."""
    s = AscentSettings(*settings)
    if engine == "fourier":  # its own step size and regularisers; the shared settings give steps, jitter, seed
        return visualize_filters_fourier(model, layer, None, FourierSettings(steps=s.steps, jitter=s.jitter, seed=s.seed))
    if engine == "tfkv":
        return visualize_filters_tfkv(model, layer, range(n_filters), s)
    return visualize_filters(model, layer, None, s)
