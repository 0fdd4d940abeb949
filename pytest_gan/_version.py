"""The package's version, in a module of its own: modules inside the package read it from
here, never from the package's ``__init__``."""

__version__ = "0.1.0"
