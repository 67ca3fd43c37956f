"""tokenveil: JWT authentication for Python APIs that does not leak personal data."""

from tokenveil._principal import Principal
from tokenveil.config import Settings

__all__ = ["Principal", "Settings", "__version__"]

__version__ = "0.1.0"
