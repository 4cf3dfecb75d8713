"""Placeholder: being written."""


def before_after(*args, **kwargs):
    raise NotImplementedError
