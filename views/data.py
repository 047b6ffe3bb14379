"""Data: where the faces came from, split sizes, class balance, sample faces, skipped rows."""
import numpy as np
import pandas as pd
import streamlit as st

from fer import figures
from ui.data import get_dataset

st.title("Data")
ds = get_dataset()

if ds.is_synthetic:
    st.info("**Generated demo faces**, not real photos. Point the sidebar at FER2013 for real data.", icon="ℹ️")
st.markdown(f"**Source:** {ds.origin}")

counts = ds.counts()
totals = counts.sum()
c = st.columns(4)
c[0].metric("Images", f"{int(totals.sum()):,}")
for col, split in zip(c[1:], ("train", "val", "test")):
    col.metric(split, f"{int(totals[split]):,}")

st.subheader("Class distribution")
left, right = st.columns([3, 2])
left.altair_chart(figures.class_distribution_chart(counts), width="stretch")
table = counts.copy()
table["share of train"] = (counts["train"] / max(int(totals["train"]), 1)).round(3)
right.dataframe(table, width="stretch", column_config={"share of train": st.column_config.NumberColumn(format="percent")})
smallest = counts["train"].idxmin()
right.caption(f"Smallest class: **{smallest}** ({int(counts['train'].min())} training images). "
              "Class imbalance is why per-class recall matters more than accuracy alone.")

st.subheader("Sample faces per class")
split = st.radio("Split", ["train", "val", "test"], horizontal=True, key="data_split")
per_class = st.slider("Faces per class", 4, 16, 10, key="data_per_class")
seed = st.session_state.setdefault("data_seed", 0)
if st.button("Show other faces", key="data_shuffle"):
    st.session_state["data_seed"] = seed = seed + 1
idx = ds.indices(split)
rng = np.random.default_rng(seed)
for k, name in enumerate(ds.class_names):
    members = idx[ds.labels[idx] == k]
    if len(members) == 0:
        st.caption(f"**{name}**: no images in this split")
        continue
    pick = rng.choice(members, size=min(per_class, len(members)), replace=False)
    st.caption(f"**{name}** ({len(members):,} images)")
    st.image(figures.montage(ds.images[pick], ncols=per_class, scale=2), clamp=True)

st.subheader("Loader report")
report = ds.report
st.write(f"Summary: {report.summary()}.")
if report.converted:
    st.caption(f"{report.converted:,} image(s) were resized or converted to 48×48 grayscale.")
for note in report.notes:
    st.caption(f"• {note}")
if report.skipped:
    st.warning(f"{len(report.skipped):,} row(s) or file(s) were skipped:")
    skipped = pd.DataFrame(report.skipped, columns=["file", "row", "reason"])
    skipped["row"] = skipped["row"].astype("Int64")
    st.dataframe(skipped, hide_index=True, width="stretch")
else:
    st.success("No rows or files were skipped.")
