"""Placeholder: being written."""


def detections(*args, **kwargs):
    raise NotImplementedError


def images_table(*args, **kwargs):
    raise NotImplementedError


def from_megadetector(*args, **kwargs):
    raise NotImplementedError


def to_camtrap_dp(*args, **kwargs):
    raise NotImplementedError


def to_megadetector(*args, **kwargs):
    raise NotImplementedError
