"""The drivers: ``cli`` (``python -m reference``), ``pytest_plugin`` and ``score``; nothing imports them."""
