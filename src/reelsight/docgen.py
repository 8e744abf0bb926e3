"""Generated parts of the docs: the settings table and the dimension table, rendered from the code.

``python -m reelsight.docgen`` rewrites them; a test fails when the committed docs differ.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from reelsight.query.dimensions import DIMENSIONS
from reelsight.settings import SETTINGS

BEGIN = "<!-- BEGIN GENERATED: {name} -->"
END = "<!-- END GENERATED: {name} -->"


def settings_table() -> str:
    rows = ["| setting | option | environment variable | type | default | meaning |", "|---|---|---|---|---|---|"]
    for s in SETTINGS:
        option = "--" + s.name.replace("_", "-")
        rows.append(f"| `{s.name}` | `{option}` | `{s.env_var}` | {s.type.__name__} | `{s.default}` | {s.help} |")
    return "\n".join(rows)


def dimensions_table() -> str:
    rows = ["| parameter | matches |", "|---|---|"]
    rows += [
        f"| `{d.param}` | any element of `{d.field}` |" if d.multi else f"| `{d.param}` | `{d.field}` |"
        for d in DIMENSIONS
    ]
    return "\n".join(rows)


GENERATED = {"settings": settings_table, "dimensions": dimensions_table}
FILES = {"settings": "docs/configuration.md", "dimensions": "docs/api.md"}


def render(text: str, name: str) -> str:
    """``text`` with the block between the markers of ``name`` replaced by the generated content."""
    begin, end = BEGIN.format(name=name), END.format(name=name)
    head, sep, rest = text.partition(begin)
    if not sep:
        raise ValueError(f"marker {begin!r} not found")
    _old, sep, tail = rest.partition(end)
    if not sep:
        raise ValueError(f"marker {end!r} not found")
    return f"{head}{begin}\n{GENERATED[name]()}\n{end}{tail}"


SCHEMA_FILE = "docs/ingest-v1.schema.json"


def ingest_schema() -> str:
    from reelsight.ingest.native import json_schema

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main(root: Path) -> int:
    for name, relative in FILES.items():
        path = root / relative
        path.write_text(render(path.read_text(), name))
        print(f"updated {relative} ({name})")
    (root / SCHEMA_FILE).write_text(ingest_schema())
    print(f"updated {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(Path.cwd()))
