"""Where the seed's modules send their calls: ``configure(url=..., api_key=...)``, and the error they raise.

Without ``configure`` the first call reads ``HORNBEAM_URL`` (default ``http://localhost:5000``) and ``HORNBEAM_API_KEY``.
"""

from .errors import HornbeamConnectionError, HornbeamError
from .transport import configure
from .worker import serve_forever, stop

__all__ = ["configure", "HornbeamError", "HornbeamConnectionError", "serve_forever", "stop"]
