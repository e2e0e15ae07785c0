"""Atlas files (registry, download, cache), their descriptions and tables, and the atlas (default the combined
Gordon + Seitzman) on a grid."""

from ketamine_fc.atlases.build import Atlas, atlas_for_space, load_atlas, region_table
from ketamine_fc.atlases.descriptions import DEFAULT_ATLAS, describe, network_spec
from ketamine_fc.atlases.registry import fetch_all, resolve
from ketamine_fc.atlases.tables import gordon_table, harvard_oxford_labels, seitzman_table

__all__ = ["DEFAULT_ATLAS", "Atlas", "atlas_for_space", "describe", "fetch_all", "gordon_table",
           "harvard_oxford_labels", "load_atlas", "network_spec", "region_table", "resolve", "seitzman_table"]
