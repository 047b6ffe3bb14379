"""The pages' script paths, for `st.Page`, `st.switch_page` and `st.page_link` (one place)."""
HOME = "views/home.py"
DATA = "views/data.py"
MODELS = "views/models.py"
TRAIN = "views/train.py"
EVALUATE = "views/evaluate.py"
COMPARE = "views/compare.py"
MISCLASSIFIED = "views/misclassified.py"
SALIENCY = "views/saliency.py"
YOUR_FACE = "views/your_face.py"
CLASS_MAPS = "views/class_maps.py"
FILTERS = "views/filters.py"
COMPRESSION = "views/compression.py"


def cell_jump(opens: str, run_id: str, class_names, true_index: int, pred_index: int) -> dict:
    """The Session State that hands a confusion-matrix cell to the page a click opens.

    "maps": the Class maps page (its `cm_jump`: class indices); "faces": the Misclassified
    browser (its `mis_jump`: class names). Both pages pop their key on arrival.
    """
    if opens == "faces":
        return {"mis_jump": {"true": class_names[true_index], "pred": class_names[pred_index], "run": run_id}}
    return {"cm_jump": {"run": run_id, "true": int(true_index), "pred": int(pred_index)}}
