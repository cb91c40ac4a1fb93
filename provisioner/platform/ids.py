"""Fixed paths and ids of the Flow Service (a destination type's own are in its module)."""

from __future__ import annotations

FLOW_SERVICE_PATH = "/data/foundation/flowservice"
IMS_TOKEN_PATH = "/ims/token/v3"

PROFILE_SPEC_ID = "8a9c3494-9708-43d7-ae3f-cda01e5030e1"
DESTINATION_FLOW_SPEC_ID = "71471eba-b620-49e4-90fd-23f1fa0174d8"
SPEC_VERSION = "1.0"

SEGMENT_SELECTORS = "/transformations/0/params/segmentSelectors/selectors"
PROFILE_SELECTORS = "/transformations/0/params/profileSelectors/selectors"
