"""Copy MathJax 3 (from the django-static-mathjax package on PyPI) into the book's static
files, so that formulas render without a network: the book loads mathjax/tex-chtml.js from its
own _static folder (see mathjax_path in _config.yml).

    python workflow/scripts/mathjax.py data/book/_static/mathjax
"""
from importlib import metadata
import os
import shutil
import sys
from pathlib import Path

try:
    source = Path(metadata.distribution("django-static-mathjax").locate_file("mathjax/static/mathjax/es5"))
except metadata.PackageNotFoundError:
    source = None
if source is None or not (source / "tex-chtml.js").is_file():
    sys.exit("MathJax files not found: install the project's dependencies (django-static-mathjax), "
             "e.g. pip install -e .")
target = Path(sys.argv[1])
tmp = target.with_name(target.name + ".tmp")
shutil.rmtree(tmp, ignore_errors=True)
# the one combined component the book loads, the CHTML fonts it needs, and what it loads on demand
# (TeX extensions such as boldsymbol, the accessibility parts of its menu): 3 of 24 MB
for part in ("tex-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions", "a11y", "ui"):
    if (source / part).is_dir():
        shutil.copytree(source / part, tmp / part)
    elif (source / part).is_file():
        (tmp / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / part, tmp / part)
shutil.rmtree(target, ignore_errors=True)
os.replace(tmp, target)
print(f"MathJax {source} -> {target}")
