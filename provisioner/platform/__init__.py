"""The platform: the Flow Service's ids and shapes, target selection, and the HTTP client."""
