"""One module per provider contract (see docs/contracts.md); each declares and registers its ``SPEC``.

Importing this package registers the built-in providers, in this order (``spec.registered()``).
"""

from . import animaldetect, sateais, authenta, claid, faces  # noqa: F401,I001  (order: registration order)
