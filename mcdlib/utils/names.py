"""Names that become file names: ids, run names, feature names, output names.

Datasets come from third parties and names come from users, and mcdlib joins them into paths
(``feats/<name>/<video_id>.npy``, ``runs/<variant>/seed<k>``). A name is therefore checked
where it enters (the readers, the config, the CLI) so that it can never point outside the
folder it is joined into.

>>> safe_name("00000093", what="video_id")
'00000093'
>>> name_problem("../../outside")
'holds a path separator'
"""

from __future__ import annotations

from mcdlib.errors import AnnotationError, McdError

#: characters a name may never hold: path separators and NUL
_SEPARATORS = ("/", "\\", "\x00")


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a safe file name component, or None when it is."""
    if not isinstance(name, str):
        return f"is a {type(name).__name__}, not a string"
    if name == "":
        return "is empty"
    if name.strip() != name:
        return "starts or ends with white space"
    if any(sep in name for sep in _SEPARATORS):
        return "holds a path separator"
    if name.startswith("."):
        return "starts with a dot (hidden file, '.' or '..')"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "holds a control character"
    return None


def safe_name(name: str, *, what: str = "name", where: str = "",
              error: type[McdError] = AnnotationError) -> str:
    """``name`` unchanged when it is a safe single path component, else raise ``error``.

    ``what`` names the field (``video_id``, ``run name``), ``where`` the file/record it came
    from; both appear in the message, which also says what a valid name looks like.
    """
    problem = name_problem(name)
    if problem is None:
        return name
    prefix = f"{where}: " if where else ""
    raise error(f"{prefix}{what} {name!r} {problem}; a {what} is used as a file name and must be a "
                "plain name (no '/', '\\', leading '.', '..' or control characters)")
