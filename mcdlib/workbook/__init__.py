"""Support for the notebooks: one setup call, exercise checks, the papermill driver."""

from mcdlib.workbook.checks import check_close, check_exact
from mcdlib.workbook.session import Session, setup

__all__ = ["Session", "setup", "check_close", "check_exact"]
