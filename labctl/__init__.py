"""labctl: provision Google Cloud labs for a cloud-computing course."""

__version__ = "0.1.0"
