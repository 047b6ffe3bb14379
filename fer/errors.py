"""Error types a user can cause, importable without loading TensorFlow (fast CLI errors)."""


class ModelConfigError(ValueError):
    """An impossible model request (unknown arch, width out of range...)."""
