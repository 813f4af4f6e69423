"""The Apache Spark engine: the artist feature aggregation and the neighbour computation as Spark jobs.

Mental model: *the same artist vectors and the same neighbour table as the local engine, computed by Spark from
the catalog's Parquet tables, so a cluster can do the joins over hundreds of millions of rows.*

* :mod:`recsys.spark.session` -- start a SparkSession (clear errors when pyspark or Java 17+ is missing);
* :mod:`recsys.spark.features` -- :func:`build_spark_artist_space`, the families of
  :mod:`recsys.features` as Spark joins and aggregations (every family except ``inferred_genres``);
* :mod:`recsys.spark.neighbours` -- :func:`spark_neighbours`, blocked exact cosine top-k or SimHash windows;
* :mod:`recsys.spark.output` -- the result written atomically as one Parquet file or a Parquet directory;
* :mod:`recsys.spark.cli` -- ``recsys spark neighbours`` and ``recsys spark features``.

Only :mod:`recsys.spark.session` and :mod:`recsys.spark.cli` may be imported without pyspark installed.
"""
