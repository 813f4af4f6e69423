"""spark-submit entry point: ``spark-submit [options] recsys/spark/submit.py neighbours CATALOG --out X.parquet``.

spark-submit runs a file, not a module; this file runs ``recsys spark ARGS`` (the master, memory and executors
come from spark-submit's options). recsys must be installed on the driver and the executors.
"""

import sys

from recsys.spark.cli import main

if __name__ == "__main__":
    sys.exit(main())
