"""The Qt-free engine: the inference thread and training jobs."""
