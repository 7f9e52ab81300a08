"""The per-name config classes, one module per model family (mirroring ``trainers.families``): each module defines
the ``ModelSettings`` / ``TaskSettings`` subclasses of the models and tasks that family introduced.
``trainers.config.choices`` finds them all; there is no list to edit."""
