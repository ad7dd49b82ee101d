"""The drivers: ``cli`` (``python -m reference``), ``pytest_plugin`` and ``score``; nothing but tests/ and
``reference/__main__.py`` imports them."""
