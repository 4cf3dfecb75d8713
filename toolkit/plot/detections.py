"""Placeholder: being written."""


def boxes(*args, **kwargs):
    raise NotImplementedError


def counts(*args, **kwargs):
    raise NotImplementedError


def gallery(*args, **kwargs):
    raise NotImplementedError


def score_histogram(*args, **kwargs):
    raise NotImplementedError
