"""``mcd notebooks``: list the workbook's notebooks, run them headlessly with papermill, build
the static HTML book of the executed notebooks (``book``), or generate the student exercise
copies (``exercises``; ``--check`` fails on drift, for CI)."""

from __future__ import annotations

from mcdlib.workbook.runner import list_notebooks, parameters_cell, run_notebooks, _read


def register(sub) -> None:
    p = sub.add_parser("notebooks", help="list or run the notebooks (papermill), generate exercises",
                       description="Run the ordered notebooks headlessly with a named parameter set "
                                   "(notebooks/params/<name>.yaml); exits non-zero when any failed.")
    nsub = p.add_subparsers(dest="notebooks_command", metavar="SUBCOMMAND")
    ls = nsub.add_parser("list", help="list notebooks and their parameters")
    ls.set_defaults(func=_list)
    run = nsub.add_parser("run", help="execute notebooks with papermill")
    run.add_argument("names", nargs="*", help="notebooks to run (default: all, in order)")
    run.add_argument("--params", default="classroom", help="parameter set name or YAML path (smoke, classroom, full)")
    run.add_argument("--out", default=None, help="folder for the executed notebooks (default runs/notebooks/<params>)")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.set_defaults(func=_run)
    book = nsub.add_parser("book", help="execute the notebooks and build a static HTML site of them",
                           description="Execute every notebook with papermill (figures kept) into <out>/notebooks/, "
                                       "convert each to <out>/<name>.html and write <out>/index.html. A failed "
                                       "notebook is converted up to its error and marked; the exit status is then 1.")
    book.add_argument("names", nargs="*", help="notebooks to include (default: all, in order)")
    book.add_argument("--params", default="classroom", help="parameter set name or YAML path (default classroom)")
    book.add_argument("--out", default=None, help="folder of the site (default build/book)")
    book.add_argument("--executed", default=None, metavar="DIR",
                      help="convert notebooks executed earlier (e.g. runs/notebooks/classroom) instead of running them")
    book.add_argument("--no-progress", action="store_true", help="no progress bars")
    book.set_defaults(func=_book)
    ex = nsub.add_parser("exercises", help="generate the student copies (solution regions -> stubs)",
                         description="Write notebooks/exercises/<name>.ipynb for every notebook with a "
                                     "'# BEGIN SOLUTION' ... '# END SOLUTION' region or a cell tagged 'solution'.")
    ex.add_argument("--check", action="store_true",
                    help="write nothing; exit 1 listing stale, missing or extra copies")
    ex.add_argument("--src", default=None, help="folder of the solution notebooks (default notebooks/)")
    ex.add_argument("--out", default=None, help="folder of the student copies (default notebooks/exercises/)")
    ex.set_defaults(func=_exercises)
    course = nsub.add_parser("course", help="lay out an nbgrader course folder from the notebooks (teachers)",
                             description="Write OUT/nbgrader_config.py and OUT/source/<notebook>/<notebook>.ipynb "
                                         "for nbgrader (docs/TEACHING.md): then, in OUT, `nbgrader "
                                         "generate_assignment 04_mcd_components` makes the student release and "
                                         "`nbgrader autograde 04_mcd_components` scores the submissions.")
    course.add_argument("out", help="the course folder (created; other files in it are kept)")
    course.add_argument("names", nargs="*", help="notebooks to include (default: every notebook with graded exercises)")
    course.add_argument("--params", default=None,
                        help="inject a parameter set (smoke, classroom, full or a YAML path) into the copies; "
                             "default: the notebooks' own defaults (classroom size)")
    course.add_argument("--course-id", default="mcdlib", help="nbgrader course id (default mcdlib)")
    course.set_defaults(func=_course)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _list(args) -> int:
    for nb in list_notebooks():
        params = parameters_cell(_read(nb), nb.name)
        print(f"{nb.name}: " + ", ".join(f"{k}={v!r}" for k, v in params.items()))
    return 0


def _run(args) -> int:
    results = run_notebooks(args.names or None, params=args.params, out_dir=args.out,
                            progress=not args.no_progress)
    for r in results:
        status = "ok" if r.ok else f"FAILED: {r.error}"
        print(f"{r.notebook:40s} {r.seconds:7.1f} s  {status}  -> {r.output}")
    return 0 if all(r.ok for r in results) else 1


def _book(args) -> int:
    from mcdlib.workbook.book import build_book

    book = build_book(args.params, args.out, args.names or None, executed=args.executed,
                      progress=not args.no_progress)
    for page in book.pages:
        took = f"{page.seconds:7.1f} s" if page.seconds is not None else " " * 9
        status = "ok" if page.ok else f"FAILED: {page.error}"
        print(f"{page.notebook:40s} {took}  {status}  -> {book.out / page.html_name}")
    print(f"book: {book.index}")
    return 0 if book.ok else 1


def _exercises(args) -> int:
    from mcdlib.workbook.exercises import check_exercises, generate_exercises

    if args.check:
        drift = check_exercises(args.src, args.out)
        for d in drift:
            print(d)
        if drift:
            print(f"{len(drift)} exercise cop{'y is' if len(drift) == 1 else 'ies are'} out of date: "
                  "run `mcd notebooks exercises`")
            return 1
        print("exercise copies are up to date")
        return 0
    sync = generate_exercises(args.src, args.out)
    for path in sync.written:
        print(f"wrote   {path}")
    for path in sync.removed:
        print(f"removed {path}")
    print(f"{len(sync.written)} written, {len(sync.unchanged)} unchanged, {len(sync.removed)} removed")
    return 0


def _course(args) -> int:
    import json
    import tempfile
    from pathlib import Path

    from mcdlib.errors import McdError
    from mcdlib.workbook.grading import exercises, write_course
    from mcdlib.workbook.runner import load_param_set, parameterize, parameters_for

    notebooks = list_notebooks()
    if args.names:
        by_name = {p.name[:2]: p for p in notebooks} | {p.name: p for p in notebooks} | {p.stem: p for p in notebooks}
        missing = [n for n in args.names if n not in by_name]
        if missing:
            raise McdError(f"unknown notebook(s) {missing}; available: {[p.stem for p in notebooks]}")
        notebooks = [by_name[n] for n in args.names]
    else:
        notebooks = [p for p in notebooks if exercises(json.loads(p.read_text(encoding="utf-8")), p.name)]
    with tempfile.TemporaryDirectory() as tmp:
        if args.params:
            param_set = load_param_set(args.params)
            notebooks = [parameterize(p, parameters_for(p, param_set), Path(tmp) / p.name) for p in notebooks]
        out = write_course(args.out, notebooks, course_id=args.course_id)
    for p in notebooks:
        print(f"source/{p.stem}/{p.name}")
    print(f"course folder {out}: cd there, then `nbgrader generate_assignment NAME` (NAME = one of the "
          f"folders above) and, after collecting, `nbgrader autograde NAME` (see docs/TEACHING.md)")
    return 0
