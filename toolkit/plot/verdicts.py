"""Placeholder: being written."""


def verdict_distribution(*args, **kwargs):
    raise NotImplementedError
