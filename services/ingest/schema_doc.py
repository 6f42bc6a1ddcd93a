"""The import kinds' column schema as Markdown, for the README."""

from __future__ import annotations

from services.ingest.kinds import KINDS


def schema_markdown() -> str:
    """The column schema of every kind as Markdown tables (the README's "Importing data" section is this
    text; a test keeps the two the same)."""
    lines: list[str] = []
    for spec in KINDS.values():
        key = ", ".join(f"`{k}`" for k in spec.natural_key)
        lines += [f"**{spec.name}**: {spec.description} Natural id: {key}.", "",
                  "| column | type | required | description |", "|---|---|---|---|"]  # fmt: skip
        for c in spec.columns:
            description = c.description.replace("|", "\\|")
            lines.append(f"| `{c.name}` | {c.type} | {'yes' if c.required else ''} | {description} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
