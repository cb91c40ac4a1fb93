"""The platform's fixed paths and catalog ids, as the emulator serves them.

The emulator models the platform, not the tool: it keeps its own copy of these public ids
(from Adobe's Flow Service documentation) so that a change on the client side can never
silently change what the emulator answers.
"""

from __future__ import annotations

FLOW_SERVICE_PATH = "/data/foundation/flowservice"
IMS_TOKEN_PATH = "/ims/token/v3"

KINESIS_SPEC_ID = "86043421-563b-46ec-8e6c-e23184711bf6"
EVENT_HUBS_SPEC_ID = "bf9f5905-92b7-48bf-bf20-455bc6b60a4e"
PROFILE_SPEC_ID = "8a9c3494-9708-43d7-ae3f-cda01e5030e1"
DESTINATION_FLOW_SPEC_ID = "71471eba-b620-49e4-90fd-23f1fa0174d8"
SPEC_VERSION = "1.0"

KINESIS_AUTH_SPEC = "Aws Kinesis authentication credentials"
EVENT_HUBS_AUTH_SPEC = "Azure EventHub authentication credentials"
EVENT_HUBS_AAD_AUTH_SPEC = "Event Hub Azure Active Directory Auth"
EVENT_HUBS_SCOPED_AAD_AUTH_SPEC = "Event Hub Scoped Azure Active Directory Auth"
