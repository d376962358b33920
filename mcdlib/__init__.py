"""mcdlib: a workbook library for audio-visual question answering with MCD.

MCD = Mutual Correlation Distillation (Ye, Yu, Liu, "Answering Diverse Questions via Text
Attached with Key Audio-Visual Clues", 2024). What is the paper's and what is this package's
own formulation is spelled out in ``docs/MCD_FORMULATION.md`` and in each component's docstring.
"""

from mcdlib.utils.threads import calm_openmp_when_busy

__version__ = "0.1.0"

calm_openmp_when_busy()  # before torch loads OpenMP: idle threads sleep on a busy machine
