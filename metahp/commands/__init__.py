"""Command groups of the ``metahp`` CLI; each module exposes ``register(subparsers)``."""
