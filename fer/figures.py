"""Figure builders for the app (Altair charts, matplotlib figures, numpy face montages).

Pure functions of arrays and dicts: no Streamlit import, no TensorFlow import, so the tests
and the CLI can call them and the pages stay thin.
"""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

import numpy as np

from fer import CLASS_NAMES

TRUE_AXIS = "true class"
PRED_AXIS = "predicted class"


# -- tables ---------------------------------------------------------------------------
def confusion_frame(cm, class_names: Sequence[str] = CLASS_NAMES, normalize: bool = False):
    """DataFrame: rows = true class, columns = predicted class; counts or row fractions."""
    import pandas as pd

    cm = np.asarray(cm, dtype=float if normalize else int)
    if normalize:
        rows = cm.sum(1, keepdims=True)
        cm = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float), where=rows > 0)
    frame = pd.DataFrame(cm, index=list(class_names), columns=list(class_names))
    frame.index.name = TRUE_AXIS
    frame.columns.name = PRED_AXIS
    return frame


def confusion_long(cm, class_names: Sequence[str] = CLASS_NAMES):
    """Long form (true, predicted, count, row fraction) for heatmaps."""
    import pandas as pd

    cm = np.asarray(cm, dtype=int)
    rows = cm.sum(1)
    records = []
    for i, t in enumerate(class_names):
        for j, p in enumerate(class_names):
            frac = cm[i, j] / rows[i] if rows[i] else 0.0
            records.append({TRUE_AXIS: t, PRED_AXIS: p, "count": int(cm[i, j]), "fraction": float(frac),
                            "percent": f"{100 * frac:.0f}%", "true_index": i, "pred_index": j})
    return pd.DataFrame.from_records(records)


def most_confused(cm, class_names: Sequence[str] = CLASS_NAMES, top: int = 3):
    """[(true, predicted, count, share of the true class)] of the largest off-diagonal cells."""
    cm = np.asarray(cm, dtype=int)
    rows = cm.sum(1)
    cells = [(cm[i, j], i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i, j] > 0]
    cells.sort(reverse=True)
    return [(class_names[i], class_names[j], int(n), n / rows[i] if rows[i] else 0.0) for n, i, j in cells[:top]]


def history_frame(histories: dict):
    """Long form of Keras histories: one row per (run, epoch, metric, split).

    `histories` maps a label (run id) to a history dict ({"loss": [...], "val_loss": [...], ...}).
    """
    import pandas as pd

    records = []
    for label, history in histories.items():
        for key, values in (history or {}).items():
            split = "validation" if key.startswith("val_") else "train"
            metric = key[4:] if key.startswith("val_") else key
            if metric not in ("loss", "accuracy"):
                continue
            segment, gap = 0, False  # a new line after each gap (a leg whose history was not kept)
            for epoch, value in enumerate(values or [], start=1):
                if value is None or not np.isfinite(value):
                    gap = True
                    continue
                segment, gap = segment + (gap and epoch > 1), False
                records.append({"run": label, "epoch": epoch, "metric": metric, "split": split, "value": float(value),
                                "segment": segment})
    return pd.DataFrame.from_records(records, columns=["run", "epoch", "metric", "split", "value", "segment"])


# -- Altair charts --------------------------------------------------------------------
def confusion_chart(cm, class_names: Sequence[str] = CLASS_NAMES, normalize: bool = False, title: Optional[str] = None,
                    size: int = 320, selectable: bool = False):
    """Heatmap with the numbers written in each cell; rows true, columns predicted.

    `selectable=True` adds a point selection named "cell" on (true_index, pred_index).
    """
    import altair as alt

    data = confusion_long(cm, class_names)
    value = "fraction" if normalize else "count"
    order = list(class_names)
    base = alt.Chart(data).encode(
        x=alt.X(f"{PRED_AXIS}:N", sort=order, axis=alt.Axis(labelAngle=-40, labelOverlap=False, title="predicted")),
        y=alt.Y(f"{TRUE_AXIS}:N", sort=order, axis=alt.Axis(labelOverlap=False, title="true")),
    )
    tooltip = [TRUE_AXIS, PRED_AXIS, "count", alt.Tooltip("fraction:Q", format=".1%")]
    rect = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", scale=alt.Scale(scheme="blues"), legend=None),
        tooltip=tooltip,
    )
    if selectable:
        cell = alt.selection_point(name="cell", fields=["true_index", "pred_index"], on="click")
        rect = rect.add_params(cell).encode(
            opacity=alt.condition(cell, alt.value(1.0), alt.value(0.75)),
        )
    vmax = data[value].max() or 1
    text = base.mark_text(fontSize=12).encode(
        text=alt.Text("percent:N") if normalize else alt.Text("count:Q"),
        color=alt.condition(alt.datum[value] > 0.55 * vmax, alt.value("white"), alt.value("#1f2933")),
        tooltip=tooltip,
    )
    chart = (rect + text).properties(width=size, height=size)
    if title:
        chart = chart.properties(title=title)
    return chart


def curves_caption(meta: dict, whole_chain: bool) -> str:
    """What the training curves of one run show: epochs, legs, and where the saved weights come from."""
    from fer.runs import chain_history, chain_legs

    history, starts = chain_history(meta, whole_chain)
    epochs = len(next(iter(history.values()), []))
    best = meta.get("best_epoch")
    text = f"{epochs} epoch(s)"
    if len(starts) > 1:
        missing = sum(1 for leg in chain_legs(meta) if not leg.get("history"))
        text += f" in {len(starts)} warm-started legs (grey lines: where each leg began"
        text += f"; {missing} leg(s) ran before histories were kept, left blank)" if missing else ")"
    if best:
        text += f"; the saved weights are from epoch {starts[-1] + best - 1} (best val accuracy of the last leg)"
    return text + "."


def curves_chart(histories: dict, height: int = 240, leg_starts=None):
    """Loss and accuracy per epoch side by side; colour = run, dashed = validation.

    `leg_starts` (epochs where warm-started legs began, as from `fer.runs.chain_history`)
    draws a grey rule before each leg after the first.
    """
    import altair as alt
    import pandas as pd

    data = history_frame(histories)
    if data.empty:
        return None
    rules = pd.DataFrame({"epoch": [s - 0.5 for s in (leg_starts or [])[1:]]})
    many = data["run"].nunique() > 1
    charts = []
    for metric in ("loss", "accuracy"):
        part = data[data["metric"] == metric]
        if part.empty:
            continue
        enc = dict(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
            tooltip=["run", "epoch", "split", alt.Tooltip("value:Q", format=".4f")],
            detail="segment:N",
        )
        if many:  # colour = run, dash = train/validation
            enc["color"] = alt.Color("run:N", legend=alt.Legend(orient="bottom", columns=1, labelLimit=400))
            enc["strokeDash"] = alt.StrokeDash("split:N", sort=["train", "validation"],
                                               legend=alt.Legend(title=None, orient="top"))
        else:
            enc["color"] = alt.Color("split:N", sort=["train", "validation"], legend=alt.Legend(title=None, orient="top"))
        chart = alt.Chart(part).mark_line(point=True).encode(**enc)
        if len(rules):
            chart = chart + alt.Chart(rules).mark_rule(color="#9aa5b1", strokeWidth=1).encode(x="epoch:Q")
        charts.append(chart.properties(title=metric, height=height, width="container"))
    if len(charts) == 1:
        return charts[0]
    return alt.hconcat(*[c.properties(width=300) for c in charts]).resolve_scale(color="shared", strokeDash="shared")


def class_distribution_chart(counts, height: int = 260):
    """Grouped bars: images per class in each split (`counts` = Dataset.counts())."""
    import altair as alt

    data = counts.rename_axis("class").reset_index().melt("class", var_name="split", value_name="images")
    order = list(counts.index)
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("class:N", sort=order, axis=alt.Axis(labelAngle=0, labelOverlap=False)),
            xOffset=alt.XOffset("split:N", sort=["train", "val", "test"]),
            y=alt.Y("images:Q"),
            color=alt.Color("split:N", sort=["train", "val", "test"], legend=alt.Legend(orient="top")),
            tooltip=["class", "split", "images"],
        )
        .properties(height=height)
    )


def proba_chart(probs, class_names: Sequence[str] = CLASS_NAMES, true: Optional[int] = None, step: int = 22):
    """Horizontal bars of class probabilities; the true class green, the prediction red if wrong."""
    import altair as alt
    import pandas as pd

    probs = np.asarray(probs, dtype=float)
    pred = int(np.argmax(probs))
    role = []
    for i in range(len(class_names)):
        if i == true:
            role.append("true class")
        elif i == pred:
            role.append("predicted (wrong)")
        else:
            role.append("other")
    data = pd.DataFrame({"class": list(class_names), "probability": probs, "role": role})
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("class:N", sort=list(class_names), title=None, axis=alt.Axis(labelOverlap=False)),
            x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=alt.Color("role:N", scale=alt.Scale(domain=["true class", "predicted (wrong)", "other"],
                                                       range=["#2e8b57", "#c0392b", "#8aa4c8"]),
                            legend=alt.Legend(orient="bottom", title=None)),
            tooltip=["class", alt.Tooltip("probability:Q", format=".1%")],
        )
        .properties(height=alt.Step(step))
    )


def params_accuracy_chart(frame, height: int = 280):
    """Scatter of parameters (log) vs test accuracy, one point per run, colour = architecture."""
    import altair as alt

    return (
        alt.Chart(frame)
        .mark_circle(size=90)
        .encode(
            x=alt.X("params:Q", scale=alt.Scale(type="log"), title="parameters (log)"),
            y=alt.Y("test accuracy:Q", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
            color=alt.Color("arch:N"),
            tooltip=["run", "arch", "width", "params", alt.Tooltip("test accuracy:Q", format=".1%")],
        )
        .properties(height=height)
    )


# -- faces ----------------------------------------------------------------------------
def upscale(image, scale: int = 2) -> np.ndarray:
    """Nearest-neighbour enlargement, so 48x48 faces stay crisp in the browser."""
    image = np.asarray(image)
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def montage(images: Iterable, ncols: int = 10, scale: int = 2, pad: int = 2, pad_value: int = 255) -> np.ndarray:
    """Tile uint8 (N,48,48) faces into one uint8 image (rows of `ncols`), nearest-neighbour scaled."""
    images = [np.asarray(im, dtype=np.uint8) for im in images]
    if not images:
        return np.full((48 * scale, 48 * scale), pad_value, np.uint8)
    h, w = images[0].shape[:2]
    ncols = max(1, min(ncols, len(images)))
    nrows = -(-len(images) // ncols)
    out = np.full((nrows * (h * scale + pad) + pad, ncols * (w * scale + pad) + pad), pad_value, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, ncols)
        y, x = pad + r * (h * scale + pad), pad + c * (w * scale + pad)
        out[y : y + h * scale, x : x + w * scale] = upscale(im, scale)
    return out


def ladder_charts(df):
    """(size bars, accuracy bars with the float32 model dashed) of a size ladder (fer.compress.size_ladder)."""
    import altair as alt

    data = df.assign(order=range(len(df)), kb=df["bytes"] / 1024, accuracy_pct=100 * df["accuracy"])
    y = alt.Y("step:N", sort=alt.SortField("order"), title=None)
    tooltip = ["step", alt.Tooltip("bytes:Q", format=","), alt.Tooltip("ratio:Q", format=".3f"),
               alt.Tooltip("accuracy_pct:Q", title="accuracy %", format=".2f"),
               alt.Tooltip("delta_points:Q", title="points vs float32", format="+.2f")]
    size = alt.Chart(data, title="Size on disk (KB)").mark_bar().encode(
        x=alt.X("kb:Q", title="KB"), y=y, color=alt.Color("key:N", legend=None), tooltip=tooltip)
    size = size + size.mark_text(align="left", dx=3).encode(text=alt.Text("kb:Q", format=",.1f"), color=alt.value("gray"))
    reference = 100 * df.attrs.get("reference_accuracy", float(df["accuracy"].iloc[0]))
    low = max(0.0, min(float(data.accuracy_pct.min()), reference) - 5)
    high = min(100.0, max(float(data.accuracy_pct.max()), reference) + 2)
    acc = alt.Chart(data, title="Test accuracy of the artefact loaded back (%)").mark_bar(clip=True).encode(
        x=alt.X("accuracy_pct:Q", title="% (dashed: float32 model)", scale=alt.Scale(domain=[low, high], zero=False)),
        y=y, color=alt.Color("key:N", legend=None), tooltip=tooltip)
    rule = alt.Chart(data.head(1).assign(ref=reference)).mark_rule(strokeDash=[4, 3], color="black").encode(x="ref:Q")
    return size, acc + rule


def scatter_chart(frame):
    """Parameters (log) vs test accuracy per architecture, point size = file size (fer.sweep.scatter_frame)."""
    import altair as alt

    base = alt.Chart(frame).encode(
        x=alt.X("params:Q", scale=alt.Scale(type="log"), title="parameters (log scale)"),
        y=alt.Y("test_accuracy:Q", title="test accuracy", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
        color=alt.Color("arch:N", title="architecture"),
    )
    lines = base.mark_line(opacity=0.45, strokeWidth=1.5).encode(order="params:Q", detail="arch:N")
    points = base.mark_point(filled=True, opacity=0.85).encode(
        size=alt.Size("size_kb:Q", title=".keras size (KB)", scale=alt.Scale(range=[40, 600])),
        shape=alt.Shape("arch:N", title="architecture"),
        tooltip=["run", "arch", alt.Tooltip("width:Q", format="g"), alt.Tooltip("params:Q", format=","),
                 alt.Tooltip("test_accuracy:Q", format=".1%"), alt.Tooltip("size_kb:Q", title="KB"), "variant"],
    )
    return (lines + points).properties(height=380)
