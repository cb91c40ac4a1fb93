"""Fixed paths and ids of the Flow Service (a destination type's own are in its module)."""

from __future__ import annotations

FLOW_SERVICE_PATH = "/data/foundation/flowservice"
IMS_TOKEN_PATH = "/ims/token/v3"

PROFILE_SPEC_ID = "8a9c3494-9708-43d7-ae3f-cda01e5030e1"
DESTINATION_FLOW_SPEC_ID = "71471eba-b620-49e4-90fd-23f1fa0174d8"
SPEC_VERSION = "1.0"

SEGMENT_SELECTORS = "/transformations/0/params/segmentSelectors/selectors"
PROFILE_SELECTORS = "/transformations/0/params/profileSelectors/selectors"

# The clients the platform records for its own writes, never a user's (Adobe's published
# captures: runs are created by `AepActivationService` or `aep_activation_batch` and updated by
# `acp_foundation_connectors`, which also rewrites a dataflow after each of its runs). A
# last write by one of them says nothing about who changed what the tool manages.
PLATFORM_CLIENTS = frozenset(
    {"AepActivationService", "aep_activation_batch", "acp_foundation_connectors"}
)
# The Experience Platform UI, as the platform records its writes.
UI_CLIENT = "exc_app"
