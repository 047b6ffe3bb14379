"""Mirror averaging as layers: a network's class probabilities averaged over the face and its
mirror image, inside the model file.

FER2013's faces are roughly left-right symmetric in meaning (a smile mirrored is a smile), and
every training face is already flipped at random, so the network has learnt both views; its two
answers disagree on the hard faces and their mean is right more often (each mirror-averaged
run's card gives both figures). Inside the `.keras` file, `model.predict` on raw 48x48x1 faces
gets the average with no code of ours, TFLite included.

The averaged model holds the run's network once, as a nested model called on both views;
`network_of(model)` hands explanations, filters and compression that network: its layers are
where the maps and the preferred inputs live.
"""
from __future__ import annotations

import keras
from keras import ops

def mirror_image(x):
    """The faces (or feature maps) flipped left-right: the width axis of NHWC. On a symbolic
    tensor this is a stock Keras operation in the graph (`Flip`), so the saved model loads with
    plain `keras.models.load_model`, safe mode on, without this package."""
    return ops.flip(x, axis=2)


def mirror_average(network: keras.Model) -> keras.Model:
    """face -> mean(network(face), network(mirror(face))), one copy of the weights.

    The two views go through the network as one batch (faces, then their mirrors) and the
    halves of its output are averaged: one call of the network in the graph, so a TFLite
    export holds its operations once (the full-int8 MobileNet: 71 KB, against 84 KB for two
    calls) and one larger batch runs faster on CPU than two."""
    inp = keras.Input(tuple(network.input.shape[1:]), name="face")
    both = ops.concatenate([inp, mirror_image(inp)], axis=0)
    probs = network(both)
    out = ops.mean(ops.reshape(probs, (2, -1, probs.shape[-1])), axis=0)
    return keras.Model(inp, out, name=f"{network.name}_mirror")


def _networks(model) -> list:
    return [layer for layer in getattr(model, "layers", ()) if isinstance(layer, keras.Model)]


def is_mirror_average(model) -> bool:
    """A model built by `mirror_average`: one nested network and a Flip operation around it."""
    flips = [op for op in getattr(model, "operations", ()) if type(op).__name__ == "Flip"]
    return len(flips) == 1 and len(_networks(model)) == 1


def network_of(model):
    """The network inside a mirror-averaged model; any other model is its own network."""
    return _networks(model)[0] if is_mirror_average(model) else model


def mirror_run(store, source_id: str, dataset, run_id: str, command: str = ""):
    """Save `source_id`'s network, mirror-averaged, as the new run `run_id`, scored afresh on
    `dataset` (val and test). The source's recipe, history and chain of commands stay in the
    new run.json, with `mirror` naming the source and its plain scores; a run that is already
    mirror-averaged is refused (averaging twice changes nothing)."""
    import time

    from fer.errors import DataError
    from fer.evaluate import evaluate
    from fer.runs import RunError

    source = store.get(source_id)
    if source.meta.get("mirror"):
        raise RunError(f"run {source_id} is already mirror-averaged (from {source.meta['mirror'].get('run')})")
    if dataset.fingerprint != source.meta.get("dataset", {}).get("fingerprint"):
        raise DataError(f"run {source_id} was trained on {source.meta.get('dataset', {}).get('name')}; "
                        f"score its mirror-averaged model on the same data (--data), not on {dataset.name}")
    model = mirror_average(source.load_model())
    x_val, y_val = dataset.split("val")
    x_test, y_test = dataset.split("test")
    val = evaluate(model, x_val, y_val) if len(x_val) else None
    test = evaluate(model, x_test, y_test) if len(x_test) else None
    scored = test or val
    if scored is None:
        raise DataError(f"{dataset.origin}: no val or test images to score the averaged model on")
    meta = {k: v for k, v in source.meta.items() if k != "id"}
    meta.update({
        "mirror": {"run": source_id, "command": source.meta.get("command"),
                   "val_accuracy": source.meta.get("val_accuracy"), "test_accuracy": source.meta.get("test_accuracy")},
        "description": f"{source.meta.get('description') or source_id}; averaged with its mirror image inside the model",
        "val_accuracy": val["accuracy"] if val else None,
        "test_accuracy": test["accuracy"] if test else None,
        "test_accuracy_tta": test["accuracy"] if test else None,  # flipping an averaged model changes nothing
        "confusion_matrix": scored["confusion_matrix"],
        "confusion_split": "test" if test else "val",
        "per_class": scored["per_class"],
        "command": command or f"python -m fer mirror {source_id} --run-id {run_id}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
    })
    meta.pop("featured", None)
    return store.save(run_id, model, meta)
