"""Placeholder: being written."""


def jobs(*args, **kwargs):
    raise NotImplementedError
