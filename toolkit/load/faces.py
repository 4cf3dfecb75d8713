"""Placeholder: being written."""


def faces(*args, **kwargs):
    raise NotImplementedError
