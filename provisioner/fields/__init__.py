"""Field types that manifests and destination types share: printable names, `${var:}`
templates, secret references, bounded file reading, and the strict base model.

The lowest package of the tool's own: it imports nothing of provisioner, so both
`destinations/` (each type's manifest model) and `manifest/` (the whole file) build on it.
"""
