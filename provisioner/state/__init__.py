"""Desired state (from manifests) and live state (read from the platform), and the marker by
which the tool recognises on the platform what it owns."""
