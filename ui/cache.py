"""Models and results keyed by a run's model file: a retrained run is loaded and scored afresh.

`per_run` turns `fn(model, ...)` into a Streamlit-cached `fn(run, ...)` whose key is the run
id, its model file's path and mtime and fn's other arguments (those named `_x` are not hashed,
Streamlit's rule). It replaces a hand-written `(run_id, mtime, ...)` wrapper per result.
"""
from __future__ import annotations

import functools
import hashlib
import inspect
from pathlib import Path

import streamlit as st

from fer.runs import MODEL_FILE, Run, RunError
from ui.store import get_store


def resolve(run) -> Run:
    return run if isinstance(run, Run) else get_store().get(run)


def model_mtime(run: Run) -> float:
    try:
        return run.model_path.stat().st_mtime
    except OSError as exc:
        raise RunError(f"run {run.id}: cannot read {MODEL_FILE} ({exc.strerror or exc})") from None


@st.cache_resource(show_spinner="Loading model…", max_entries=16)
def _load_model(run_id: str, model_path: str, mtime: float):
    return get_store().get(run_id).load_model()


def load_model(run):
    """The Keras model of a run or run id (cached); raises RunError for a missing or broken run."""
    run = resolve(run)
    return _load_model(run.id, str(run.model_path), model_mtime(run))


def per_run(**cache_options):
    """`st.cache_data(**cache_options)` for `fn(model, ...)`, called as `fn(run_or_id, ...)`."""

    def decorate(fn):
        signature = inspect.signature(fn)
        code = hashlib.sha1(inspect.getsource(fn).encode()).hexdigest()  # a changed fn is a new cache

        def keyed(run_id, model_path, mtime, code, hashed, _unhashed):
            return fn(load_model(run_id), **dict(hashed), **_unhashed)

        keyed.__module__, keyed.__qualname__ = fn.__module__, fn.__qualname__  # one cache per fn
        cached = st.cache_data(**cache_options)(keyed)

        @functools.wraps(fn)
        def call(run, *args, **kwargs):
            bound = signature.bind(None, *args, **kwargs)
            bound.apply_defaults()
            values = list(bound.arguments.items())[1:]  # all but the model
            hashed = tuple((k, v) for k, v in values if not k.startswith("_"))
            run = resolve(run)
            return cached(run.id, str(run.model_path), model_mtime(run), code, hashed,
                          {k: v for k, v in values if k.startswith("_")})

        call.clear = cached.clear
        return call

    return decorate


# persist="disk" (in ~/.streamlit/cache): a restarted app does not score every run again.
@per_run(show_spinner="Scoring the test split…", max_entries=64, persist="disk")
def _test_probs(model, fingerprint: str, _dataset):
    from fer.evaluate import predict_proba

    images, _ = _dataset.split("test")
    return predict_proba(model, images)


def _kept_stamp(run: Run, name: str):
    """What keys a kept file's reading: the model file's and the kept file's versions."""
    from fer.kept import kept_path

    try:
        kept = kept_path(run.path, name).stat().st_mtime_ns
    except OSError:
        kept = None
    return str(run.path), model_mtime(run), kept


@st.cache_data(show_spinner=False, max_entries=64)
def _kept_probs(stamp: tuple, fingerprint: str):
    from fer.explain.kept import kept_test_probs

    return kept_test_probs(Path(stamp[0]), fingerprint)


def test_probs(run, dataset):
    """Class probabilities (N_test, 7) of `run` on `dataset`'s test split: the ones kept beside the
    run for this model file and data (`python -m fer keep`), else computed (cached per run and data)."""
    from fer.explain.kept import PROBS

    run = resolve(run)
    kept = _kept_probs(_kept_stamp(run, PROBS), dataset.fingerprint)
    return kept if kept is not None else _test_probs(run, dataset.fingerprint, dataset)


def test_probs_or_stop(run, dataset):
    """test_probs, or a clear message and a stopped page when the run's model cannot be used."""
    try:
        return test_probs(run, dataset)
    except RunError as exc:
        st.error(f"This run cannot be used: {exc}")
        st.info("Pick another run, or delete the broken folder from the run store.")
        st.stop()
    except Exception as exc:  # noqa: BLE001 - e.g. a model that does not fit 48x48 input
        st.error(f"Scoring run {run.id} failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
        st.stop()


@st.cache_data(show_spinner="Building the model…", max_entries=256)
def model_summary(arch: str, width: float, depth: int | None = None, batchnorm: bool = True, match_params: int | None = None,
                  design: str = "course"):
    """(layer table, counts dict) of an untrained model; cached per configuration (`design`: a
    fer.architectures.MOBILENET_DESIGNS key, MobileNet only)."""
    from fer.architectures import MOBILENET_DESIGNS
    from fer.models import build_model, summary_table

    opts = {"depth": depth, "batchnorm": batchnorm}
    if arch == "mobilenet":
        opts.update(MOBILENET_DESIGNS[design][1])
    if arch == "dnn" and match_params:
        opts["match_params"] = int(match_params)
    return summary_table(build_model(arch, float(width), **opts))


# The Class maps and Filters pages' computations (here, not in the pages, so that ui.warmup can
# fill the same caches for the default runs before the pages are opened).
@per_run(show_spinner=False, max_entries=24, persist="disk")
def _test_maps(model, fingerprint: str, method: str, target: str, per_class, _dataset, _pred):
    from fer.explain import aggregate

    x, y = _dataset.split("test")
    faces = aggregate.per_class_sample(y, per_class)
    return aggregate.face_maps(model, x[faces], method, class_index=_pred[faces] if target == "predicted" else y[faces])


@st.cache_data(show_spinner=False, max_entries=24)
def _kept_maps(stamp: tuple, fingerprint: str, method: str, target: str, _pred):
    from fer.explain.kept import kept_test_maps

    return kept_test_maps(Path(stamp[0]), fingerprint, method, target, _pred)


def test_maps(run, fingerprint: str, method: str, target: str, dataset, per_class=None):
    """(maps float16 (N,48,48), predicted (N,)) of `method` over the test split, each map explaining
    the face's predicted (`target="predicted"`) or true class: kept beside the run, else computed
    and kept on disk like the test scores, whose predictions it reuses (the model file and data
    set key both). `per_class`: only `aggregate.per_class_sample`'s faces, in its order."""
    from fer.explain.aggregate import per_class_sample
    from fer.explain.kept import maps_name

    run = resolve(run)
    pred = test_probs(run, dataset).argmax(1)
    if per_class is None:
        kept = _kept_maps(_kept_stamp(run, maps_name(method)), fingerprint, method, target, pred)
        if kept is not None:
            return kept, pred
    faces = per_class_sample(dataset.split("test")[1], per_class)
    return _test_maps(run, fingerprint, method, target, per_class, dataset, _pred=pred), pred[faces]


@per_run(show_spinner=False, max_entries=64)
def _preferred_inputs(model, layer: str, engine: str, settings: tuple, n_filters: int):
    from fer.explain.filters import preferred_inputs as compute

    return compute(model, layer, engine, settings, n_filters)


@st.cache_data(show_spinner=False, max_entries=64)
def _kept_preferred_inputs(stamp: tuple, layer: str, engine: str, settings: tuple, fingerprint: str):
    from fer.explain.kept import kept_preferred_inputs

    return kept_preferred_inputs(Path(stamp[0]), layer, engine, settings, fingerprint)


@per_run(show_spinner=False, max_entries=64)
def _shown_inputs(model, layer: str, engine: str, settings: tuple, n_filters: int, fingerprint: str, _found, _exemplars,
                  _faces):
    from fer.explain.filters.sharpen import against_faces

    return against_faces(model, layer, _found, _exemplars, _faces)


def preferred_inputs(run, layer: str, engine: str, settings: tuple, n_filters: int, dataset=None):
    """Preferred inputs of a layer's filters (`fer.explain.filters.preferred_inputs`), checked
    against `dataset`'s test faces (`sharpen.against_faces`) where it has any: kept beside the
    run for these settings and data, else computed (cached per run)."""
    from fer.explain.kept import filters_name

    run = resolve(run)
    n_filters = n_filters if engine == "tfkv" else 0  # one key per result
    faces = None if dataset is None else dataset.split("test")[0]
    if faces is None or not len(faces):
        return _preferred_inputs(run, layer, engine, settings, n_filters)
    kept = _kept_preferred_inputs(_kept_stamp(run, filters_name(layer, engine)), layer, engine, tuple(settings),
                                  dataset.fingerprint)
    if kept is not None:
        return kept
    found = _preferred_inputs(run, layer, engine, settings, n_filters)
    best = exemplars(run, layer, dataset.fingerprint, 1, dataset)
    return _shown_inputs(run, layer, engine, settings, n_filters, dataset.fingerprint, found, best, faces)


@per_run(show_spinner=False, max_entries=32, persist="disk")
def _exemplars(model, layer: str, fingerprint: str, _dataset):
    from fer.explain.aggregate import filter_exemplars
    from fer.explain.kept import EXEMPLARS_K

    return filter_exemplars(model, layer, _dataset.split("test")[0], k=EXEMPLARS_K)


@st.cache_data(show_spinner=False, max_entries=32)
def _kept_exemplars(stamp: tuple, layer: str, fingerprint: str, k: int):
    from fer.explain.kept import kept_exemplars

    return kept_exemplars(Path(stamp[0]), layer, fingerprint, k)


def exemplars(run, layer: str, fingerprint: str, k: int, dataset):
    """The k (at most `EXEMPLARS_K`) test faces that drive each filter of `layer` most
    (fer.explain.aggregate.filter_exemplars): kept beside the run for this data set, else
    computed once for every k (kept on disk)."""
    from fer.explain.kept import exemplars_name

    run = resolve(run)
    kept = _kept_exemplars(_kept_stamp(run, exemplars_name(layer)), layer, fingerprint, k)
    return kept if kept is not None else _exemplars(run, layer, fingerprint, dataset).first(k)


@st.cache_data(show_spinner=False, max_entries=16)
def _kept_face_maps(stamp: tuple):
    from fer.explain.kept import kept_face_maps as read

    return read(Path(stamp[0]))


def kept_face_maps(run, key: str, method: str, classes, settings: dict):
    """The maps (float32 (len(classes),48,48)) of the face `key` that `python -m fer keep --faces`
    kept beside the run for `method` with these settings, or None when any of them is not kept."""
    import numpy as np

    from fer.explain.kept import FACE_MAPS, face_map_label

    kept = _kept_face_maps(_kept_stamp(resolve(run), FACE_MAPS))
    labels = [face_map_label(key, method, cls, settings) for cls in classes]
    if kept is None or any(label not in kept for label in labels):
        return None
    return np.stack([kept[label] for label in labels]).astype(np.float32)


def method_applies(run, method: str) -> bool:
    """Whether `method` applies to the run's model: a built-in architecture answers without
    loading the model (every CNN and MobileNet has conv layers, a DNN none), others are loaded."""
    from fer.explain import METHODS, applicable_methods

    run = resolve(run)
    arch = run.meta.get("arch")
    if arch in ("cnn", "mobilenet") or (arch == "dnn" and not METHODS[method].needs_conv):
        return True
    if arch == "dnn":
        return False
    return applicable_methods(load_model(run))[method] is None


def comparison_runs(run, method: str, candidates) -> list:
    """The runs of `candidates` that Class maps can set beside `run` for `method`: another
    architecture first, the most accurate first within each."""
    run = resolve(run)
    others = [r for r in candidates if r.id != run.id and method_applies(r, method)]
    return sorted(others, key=lambda r: (r.meta.get("arch") == run.meta.get("arch"), -(r.meta.get("test_accuracy") or 0)))


@st.cache_data(show_spinner=False, max_entries=16, persist="disk")
def _agreement(key: tuple, _run, _other, _dataset, _method: str, _per_class):
    from fer.explain import aggregate

    mine, _ = test_maps(_run, _dataset.fingerprint, _method, "true", _dataset, _per_class)
    theirs, _ = test_maps(_other, _dataset.fingerprint, _method, "true", _dataset, _per_class)
    labels = _dataset.split("test")[1]
    return aggregate.agreement(mine, theirs, labels=labels[aggregate.per_class_sample(labels, _per_class)])


def maps_agreement(run, other, dataset, method: str, per_class=None):
    """Per test face (of `aggregate.per_class_sample`'s, in its order), how far two runs' maps of
    its true class agree (`aggregate.agreement`): cached by both model files, the data, the method
    and the sample (kept on disk)."""
    run, other = resolve(run), resolve(other)
    return _agreement((run.id, model_mtime(run), other.id, model_mtime(other), dataset.fingerprint, method, per_class),
                      run, other, dataset, method, per_class)


def face_parts(dataset, faces, find: bool = False):
    """`fer.explain.parts.FaceParts` of the test faces `faces` (indices): the generated faces'
    ground truth, or the data set's kept keypoints; with `find`, keypoints found now and kept in
    the cache folder (MTCNN over the whole test split); None when there are none and not `find`."""
    from fer.explain import parts

    if dataset.masks is not None and len(dataset.masks):
        return parts.face_parts(dataset, faces)
    points = parts.kept_keypoints(dataset)
    if points is None and find:
        points = parts.keep_keypoints(dataset)[1]
    return None if points is None else parts.face_parts(dataset, faces, points=points[faces])


@per_run(show_spinner=False, max_entries=16, persist="disk")
def _concept_table(model, fingerprint: str, settings: str, _dataset):
    from fer.explain import concepts

    return concepts.tcav(model, concepts.builtin_concepts(_dataset), _dataset)


def concept_table(run, dataset, compute: bool = False):
    """The run's TCAV table of the built-in concepts: kept beside it (`python -m fer keep
    --tcav`), or with `compute` computed (cached on disk per model file and data); else None."""
    import json

    from fer.explain.concepts import SETTINGS
    from fer.explain.kept import kept_tcav

    run = resolve(run)
    kept = kept_tcav(run.path, dataset.fingerprint)
    if kept is not None or not compute:
        return kept
    return _concept_table(run, dataset.fingerprint, json.dumps(SETTINGS, sort_keys=True), dataset)


@per_run(show_spinner=False, max_entries=16, persist="disk")
def _own_concept_table(model, fingerprint: str, name: str, digest: str, _concept, _dataset):
    from fer.explain import concepts

    control = [c for c in concepts.builtin_concepts(_dataset) if c.name == concepts.CONTROL]
    return concepts.tcav(model, [_concept, *control], _dataset)


def own_concept_table(run, dataset, concept):
    """The TCAV table of a concept the user gave (with the control beside it), cached on disk by
    the model file, the data and the concept's images."""
    digest = hashlib.sha1(concept.images.tobytes()).hexdigest()
    return _own_concept_table(run, dataset.fingerprint, concept.name, digest, concept, dataset)


@per_run(show_spinner=False, max_entries=32, persist="disk")
def _discovered(model, fingerprint: str, class_index: int, faces: int, _dataset):
    from fer.explain.craft import discover

    x, y = _dataset.split("test")
    return discover(model, x[y == class_index][:faces], class_index)


def run_has_conv_layer(run) -> bool:
    from fer.explain.craft import discoverable

    return discoverable(load_model(resolve(run)))


def discovered_concepts(run, dataset, class_index: int):
    """(`fer.explain.craft.Discovered` of the class's first CRAFT_FACES test faces, those faces):
    kept beside the run (`python -m fer keep --tcav`), else computed and cached on disk per model
    file, data and class."""
    from fer.explain.craft import CRAFT_FACES
    from fer.explain.kept import kept_discovered

    run = resolve(run)
    x, y = dataset.split("test")
    faces = x[y == class_index][:CRAFT_FACES]
    kept = kept_discovered(run.path, dataset.fingerprint, CRAFT_FACES, class_index)
    return (kept if kept is not None else _discovered(run, dataset.fingerprint, int(class_index), CRAFT_FACES, dataset)), faces


FORWARD_FACES_PER_CLASS = 20  # a forward method maps this sample by default: ~120 predictions a face


def map_sample(method: str, per_class=FORWARD_FACES_PER_CLASS):
    """The `per_class` Class maps hands `test_maps` for `method`: None (every test face) for a
    gradient method, one pass per face; `per_class` for a forward-only one (occlusion, RISE)."""
    from fer.explain import METHODS

    return per_class if getattr(METHODS[method], "forward_only", False) else None


def map_methods(run):
    """(methods that apply to the run's model, its kept trust table or None, the default method):
    the one the trust table vouches for (`trusted_method`), as Class maps and the warm-up open on."""
    from fer.compress.shipped import kept_trust
    from fer.explain import FORWARD_NAMES, METHOD_NAMES, applicable_methods
    from fer.explain.measure import TRUST_SETTINGS, trusted_method

    run = resolve(run)
    ok = applicable_methods(load_model(run))
    usable = [m for m in (METHOD_NAMES if run.is_keras else ()) + FORWARD_NAMES if ok[m] is None]
    trust = kept_trust(run.path, (run.meta.get("dataset") or {}).get("fingerprint"), TRUST_SETTINGS)
    return usable, trust, trusted_method(trust, usable)
