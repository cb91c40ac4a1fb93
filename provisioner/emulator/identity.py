"""Who the emulator is: its one client, and the org that client belongs to.

A module of its own, so that choosing a target can name them without loading the emulator.
"""

from __future__ import annotations

DEFAULT_CLIENT_ID = "provisioner-emulator"
DEFAULT_CLIENT_SECRET = "emulator-secret"  # a well-known value of the local emulator only
DEFAULT_ORG = "EMULATOR0000000000000000@AdobeOrg"
