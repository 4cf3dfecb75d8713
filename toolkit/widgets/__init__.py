"""Placeholder: being written."""


def batch_mimebundle(batch, include=None, exclude=None):
    return {"text/plain": repr(batch)}
