"""Writing a manifest: a validated model, dumped by the YAML library, never pasted text.

Comments are the only free text, and each of their lines is reduced to printable
characters first: a value from the platform cannot start a new YAML document or key.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

from ruamel.yaml import YAML

from provisioner.manifest.model import Manifest

# Keys in the order a person reads a manifest, whatever order the model holds them in.
_ORDER = ("version", "name", "description", "enabled", "destination", "audiences", "attributes")


def manifest_yaml(manifest: Manifest, comments: Sequence[str] = ()) -> str:
    """`# comment` lines, then the manifest as YAML (fields left at their default omitted,
    except the ones a reader expects to see)."""
    document = manifest.model_dump(mode="json", exclude_none=True)
    ordered = {key: document[key] for key in _ORDER if key in document}
    ordered.update({k: v for k, v in document.items() if k not in ordered})
    stream = io.StringIO()
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.dump(ordered, stream)
    header = "".join(f"# {_comment_safe(line)}\n".replace("# \n", "#\n") for line in comments)
    return header + stream.getvalue()


def _comment_safe(text: str) -> str:
    """Printable text on one line: anything else is shown escaped, as JSON escapes it."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in text)
