"""Write the book's study config reference page from the schema (analognoise.schema).

    python workflow/scripts/config_reference.py        # -> book/config_reference.md
"""
from analognoise.paths import resolve
from analognoise.schema import reference_markdown

resolve("book/config_reference.md").write_text(reference_markdown())
print("wrote book/config_reference.md")
