"""City-scale areas: one street network over many tiles, joined across tile borders.

>>> import citygen
>>> A = citygen.generate_area(citygen.load_model(), 3000, 3000, seed=0)   # doctest: +SKIP
>>> from citygen.area import check_area
>>> check_area(A).total                                                  # doctest: +SKIP
0
"""

from citygen.area.seams import SeamReport, check_area
from citygen.area.tiling import MAX_AREA_KM2, AreaStats, generate_area

__all__ = ["MAX_AREA_KM2", "AreaStats", "SeamReport", "check_area", "generate_area"]
