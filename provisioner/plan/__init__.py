"""The plan: its typed model, how it is built from desired and live state (keyed diffs),
saved plans and their checks, and destroy plans. Reads the platform never; writes nothing."""
