"""Placeholder: being written."""


def images(*args, **kwargs):
    raise NotImplementedError
