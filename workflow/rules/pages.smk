# The book's generated pages: each chapter notebook run for the study it shows. A page's inputs
# are its template, the library modules it uses (and the paper's data where it uses them) and
# the results it shows, so editing one of them rebuilds exactly the pages that depend on it.
def page_inputs(wildcards):
    page = wildcards.page
    shows = CHAPTERS[page]
    template = f"notebooks/chapters/{page}.ipynb"
    data = []
    if shows.startswith("committed:"):
        folder = shows.split(":", 1)[1]
        data = sorted(str(p) for p in Path(folder).glob("*") if p.is_file())
        for pattern in PAGE_EXTRA_RESULTS.get(page, ()):
            data += sorted(str(p) for p in Path(".").glob(pattern) if p.is_file())
    elif page_study(shows):
        runs = page_runs(page)
        data = [page_study(shows)["path"], *(f"{RUNS}/{r}/noise.csv" for r in runs)]
        if page in THEORY_PAGES:
            data += [f"{RUNS}/{r}/theory" for r in runs]
    return [template, *library_sources(template), *data]


rule page:
    input:
        page_inputs,
    output:
        f"{PAGES}/{{page}}.ipynb",
    log:
        f"{LOGS}/page/{{page}}.log",
    wildcard_constraints:
        page="|".join(CHAPTERS),
    params:
        yaml=lambda w: as_yaml(page_parameters(w.page)),
    threads: 1
    shell:
        "{NOTEBOOK} notebooks/chapters/{wildcards.page}.ipynb {output} {params.yaml:q} --threads {threads} --log {log}"
