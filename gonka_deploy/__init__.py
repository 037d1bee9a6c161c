"""gonka-deploy: pyinfra operations, facts and data for Gonka network hosts."""

__version__ = "0.1.0"
