"""One adapter per provider contract; the batch machinery in ``client.batch`` is shared by all."""
