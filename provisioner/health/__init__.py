"""Whether the manifests' dataflows deliver: the status model, its rules, and the plan's
verdict per dataflow. Pure: the command (cli/status.py) reads, this package judges."""
