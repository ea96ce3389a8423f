"""An NNPLAY_PLUGINS module for the tests: importing it declares the weight-norm heavy field."""

from tests.engine.test_heavy_fields import register

register()
