"""Atlas files (registry, download, cache), their tables, and the combined Gordon + Seitzman atlas on a grid."""

from ketamine_fc.atlases.build import Atlas, atlas_for_space, load_atlas, region_table
from ketamine_fc.atlases.registry import fetch_all, resolve
from ketamine_fc.atlases.tables import gordon_table, harvard_oxford_labels, seitzman_table

__all__ = ["Atlas", "atlas_for_space", "fetch_all", "gordon_table", "harvard_oxford_labels", "load_atlas",
           "region_table", "resolve", "seitzman_table"]
