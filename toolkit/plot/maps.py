"""Placeholder: being written."""


def detections_map(*args, **kwargs):
    raise NotImplementedError


def sizes(*args, **kwargs):
    raise NotImplementedError
