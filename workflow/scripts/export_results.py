"""Export a study's results to a folder of tidy CSVs (see analognoise.analysis.export_results).

    python workflow/scripts/export_results.py STUDY DEST
"""
import sys

from analognoise import analysis

analysis.export_results(sys.argv[1], sys.argv[2])
print(f"exported {sys.argv[1]} to {sys.argv[2]}")
