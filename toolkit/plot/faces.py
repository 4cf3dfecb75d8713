"""Placeholder: being written."""


def enrollment_summary(*args, **kwargs):
    raise NotImplementedError
