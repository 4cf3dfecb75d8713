"""Placeholder: being written."""


def timeline(*args, **kwargs):
    raise NotImplementedError
