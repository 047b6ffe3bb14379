"""How small can a facial-expression model get? The size ladder, pruning and distillation.

    from fer.compress import size_ladder
    table = size_ladder(model, x_test, y_test, "/tmp/ladder", sparsity=0.5,
                        train_images=x_train, train_labels=y_train)

Every step of the ladder writes one artefact to disk, measures its exact size in bytes
(`os.path.getsize`), loads it back and runs it on the test images; nothing is estimated.

Artefacts and how they load back (every `.npz` loads with `allow_pickle=False`):

==================  ====================================================================
key                 file
==================  ====================================================================
keras               `model.keras`, uncompiled, no optimizer state (`keras.models.load_model`)
npz32               `weights_float32.npz`: `get_weights()` as w000, w001, ... (`load_weights_file`)
npz16               `weights_float16.npz`: the same arrays cast to float16
flat16              `weights_float16_flat.npz`: all float16 weights in one flat array plus a
                    small shape index, `np.savez_compressed` (the course's trick)
tflite32            `model_float32.tflite` (`TFLiteModel`)
tflite16            `model_float16.tflite`: float16 weights, float compute
tflite_dynamic      `model_dynamic_int8.tflite`: int8 weights, activations quantised on the fly
tflite_int8         `model_full_int8.tflite`: int8 weights and activations, calibrated on a
                    representative dataset; input and output stay float32
tflite_int8_small   `model_full_int8_small.tflite`: the same with one scale per weight tensor
                    (not per channel) and no tensor names: for a tiny model, a third smaller
pruned              `pruned_sparse_float16.npz`: magnitude pruning of the Conv/Dense kernels to
                    the asked sparsity (one global threshold), a short fine-tune with the
                    masks re-applied after every step, BatchNorm statistics re-estimated,
                    then only the non-zero float16 values plus a packed bit mask, compressed
distilled           `distilled_student_float16_flat.npz`: a MobileNet student distilled from
                    the model (a CNN teacher), stored like flat16
==================  ====================================================================

The weight files hold weights only: rebuild the architecture first (`keras.models.clone_model`
of the original, or `fer.models.build_model(arch, width, **options)` from the run's `run.json`)
and load into it with `load_weights_file(path, template)`.
One job per module: `weights` (the .npz formats), `tflite`, `pruning`, `ladder`; BatchNorm
re-estimation is `fer.batchnorm` and distillation `fer.distill` (training uses both too).
No Streamlit here; the Compression page and `bench/compression_ladder.py` call this package.
"""
from fer.batchnorm import recalibrate_batchnorm  # noqa: F401
from fer.compress.ladder import (  # noqa: F401
    DEFAULT_STEPS,
    LADDER_COLUMNS,
    STEPS,
    DistillOptions,
    PruneOptions,
    accuracy,
    format_bytes,
    size_ladder,
)
from fer.compress.pruning import KERNEL_LAYERS, apply_masks, kernel_sparsity, magnitude_masks, prunable_layers, prune  # noqa: F401
from fer.compress.tflite import TFLITE_MODES, export_saved_model, tflite_convert  # noqa: F401
from fer.runtimes import TFLiteModel  # noqa: F401
from fer.compress.weights import (  # noqa: F401
    float16_cast,
    load_weights_file,
    read_weights_file,
    save_flat,
    save_sparse,
    save_weights_npz,
    template_like,
)
from fer.distill import distill_compare, fit_student  # noqa: F401
