"""Placeholder: being written."""


def features(*args, **kwargs):
    raise NotImplementedError
