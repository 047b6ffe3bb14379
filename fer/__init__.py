"""fer: datasets, models, training, run store and explanations for the FER workbench.

No Streamlit import anywhere in this package: the app's pages call it, tests reach it directly.
"""

CLASS_NAMES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
IMAGE_SIZE = 48
NUM_CLASSES = len(CLASS_NAMES)

__version__ = "0.1.0"
