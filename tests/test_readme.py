"""The README's import schema is the importer's own (services.ingest.kinds), so the two never drift."""

from pathlib import Path

from services.ingest.schema_doc import schema_markdown

README = Path(__file__).resolve().parents[1] / "README.md"
START, END = "<!-- import-schema:start -->", "<!-- import-schema:end -->"


def test_readme_import_schema_matches_the_importer():
    text = README.read_text(encoding="utf-8")
    assert START in text and END in text, "README.md lacks the import schema block"
    block = text.split(START, 1)[1].split(END, 1)[0].strip() + "\n"
    assert block == schema_markdown(), (
        "README.md's import schema is stale; regenerate it with\n"
        "  .venv/bin/python -c 'from services.ingest.schema_doc import schema_markdown; print(schema_markdown())'"
    )
