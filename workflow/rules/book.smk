# The book: its table of contents (this build's pages, and the executed notebooks of this
# build's runs), MathJax served from the book itself (readable offline), then jupyter-book.
STEP_TITLES = {"train": "training", "inject_noise": "weight noise", "measure_theory": "gradient noise and smoothness"}


def executed_notebooks():
    """This build's executed step notebooks: (page path without suffix, title), run by run."""
    pages = []
    for run_id, cell in CELLS.items():
        steps = ["train", "inject_noise", *(["measure_theory"] if run_id in THEORY_RUNS else []),
                 *(f"inject_noise-{t}" for t in cell.ablation_runs)]
        run = f"{cell.model}, {cell.variant}, seed {cell.params['seed']}"
        for step in steps:
            what = STEP_TITLES.get(step) or f"weight noise on {step.split('-', 1)[1]}"
            pages.append((f"{EXECUTED}/{run_id}/{step}", f"{run}: {what}"))
    return pages


def table_of_contents():
    chapters = lambda pages: [{"file": page if page.startswith("book/") else f"{PAGES}/{page}"}
                              for page, shows in pages if shows is None or page in CHAPTERS]
    parts = [{"caption": caption, "chapters": chapters(pages)} for caption, pages in BOOK]
    for part in parts:
        for chapter in part["chapters"]:
            if chapter["file"] == f"{PAGES}/runs":
                chapter["sections"] = [{"file": f, "title": title} for f, title in executed_notebooks()]
    return {"format": "jb-book", "root": ROOT_PAGE, "parts": [p for p in parts if p["chapters"]]}


rule toc:
    output:
        f"{PAGES}/_toc.yml",
    log:
        f"{LOGS}/toc.log",
    params:
        toc=as_yaml(table_of_contents()),
    shell:
        "python workflow/scripts/write_yaml.py {output} {params.toc:q} > {log} 2>&1"


rule mathjax:
    output:
        directory(f"{PAGES}/_static/mathjax"),
    log:
        f"{LOGS}/mathjax.log",
    shell:
        "python workflow/scripts/mathjax.py {output} > {log} 2>&1"


rule book:
    input:
        pages=expand(f"{PAGES}/{{page}}.ipynb", page=CHAPTERS),
        toc=f"{PAGES}/_toc.yml",
        mathjax=f"{PAGES}/_static/mathjax",
        written=[f"{page}.md" for _, pages in BOOK for page, shows in pages if shows is None] + [f"{ROOT_PAGE}.md"],
        config="_config.yml",
        bibliography="references.bib",
        executed=[f"{page}.ipynb" for page, _ in executed_notebooks()],
    output:
        "_build/html/index.html",
    log:
        f"{LOGS}/book.log",
    shell:
        "jupyter-book build . --all --toc {input.toc} --warningiserror --keep-going --quiet > {log} 2>&1 "
        "|| (cat {log}; exit 1)"
