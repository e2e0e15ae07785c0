"""Atlas files (registry, download, cache) and the combined Gordon + Seitzman atlas on a BOLD grid."""

from ketamine_fc.atlases.build import Atlas, load_atlas, region_table

__all__ = ["Atlas", "load_atlas", "region_table"]
