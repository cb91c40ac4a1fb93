"""provisioner: Adobe Experience Platform streaming destinations as code."""

from __future__ import annotations

__version__ = "0.2.0"
