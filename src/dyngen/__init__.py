"""dyngen: dynamic content generation for narrative games."""

__version__ = "0.1.0"
