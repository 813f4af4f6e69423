"""Start (or join) the SparkSession the Spark engine runs in, with clear errors when Spark cannot run here.

Mental model: *one call, :func:`spark_session`, returns a ready session or raises a RecsysError that says what is
missing.* Under ``spark-submit`` the master and memory come from spark-submit; otherwise from the arguments, the
``RECSYS_SPARK_MASTER`` / ``RECSYS_SPARK_DRIVER_MEMORY`` environment variables, or ``local[*]``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import RecsysError

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["spark_session", "java_version", "check_spark_available", "MIN_JAVA", "INSTALL_HINT"]

#: oldest Java major version PySpark 4 runs on
MIN_JAVA = 17
INSTALL_HINT = "install the spark extra: pip install 'recsys[spark]'; Spark needs Java 17+"
_MEMORY = re.compile(r"^\d+[kmgtKMGT]?$")


def java_version(java_home: str | None = None) -> tuple[int, str] | None:
    """(major version, ``java -version`` first line) of the Java Spark would start, or None when there is none.

    Looks in ``$JAVA_HOME/bin/java`` first (what Spark's launcher uses), then ``java`` on the PATH.
    """
    home = java_home if java_home is not None else os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else None
    if not java or not os.access(java, os.X_OK):
        java = shutil.which("java")
    if not java:
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stderr or out.stdout or "").strip()
    m = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not m:
        return None
    major = int(m.group(1))
    if major == 1 and m.group(2):  # "1.8.0_392" is Java 8
        major = int(m.group(2))
    return major, text.splitlines()[0]


def check_spark_available() -> None:
    """Raise :class:`RecsysError` unless pyspark imports and a Java >= 17 is installed."""
    try:
        import pyspark  # noqa: F401
    except ImportError as e:
        raise RecsysError(f"the Spark engine needs pyspark, which is not installed ({e})", hint=INSTALL_HINT) from None
    found = java_version()
    if found is None:
        raise RecsysError("the Spark engine needs a Java runtime, but none was found (no $JAVA_HOME/bin/java, no "
                          "`java` on the PATH)", hint=INSTALL_HINT + " (e.g. apt-get install openjdk-17-jre-headless)")
    if found[0] < MIN_JAVA:
        raise RecsysError(f"the Spark engine needs Java {MIN_JAVA}+, but {found[1]!r} was found",
                          hint=INSTALL_HINT + "; point JAVA_HOME at a Java 17 or 21 installation")


def spark_session(master: str | None = None, *, driver_memory: str | None = None, app_name: str = "recsys",
                  conf: Mapping[str, str] | None = None, log_level: str = "ERROR") -> SparkSession:
    """A SparkSession for the Spark engine (an active one is reused, e.g. under ``spark-submit``).

    Parameters
    ----------
    master : str, optional
        Master URL: ``local[*]``, ``local[2]``, ``spark://host:7077``, ``yarn``, ``k8s://https://host:443``.
        Default: ``$RECSYS_SPARK_MASTER``, else what spark-submit configured, else ``local[*]``.
    driver_memory : str, optional
        e.g. ``"8g"``; default ``$RECSYS_SPARK_DRIVER_MEMORY`` or Spark's default. Only takes effect when this
        call starts the JVM (spark-submit sets it with ``--driver-memory``).
    app_name : str
        Name shown in the Spark UI.
    conf : mapping, optional
        Extra Spark settings (``spark.executor.memory`` ...).
    log_level : str
        Spark's log level after start-up (``ERROR`` keeps the console quiet).

    Raises
    ------
    RecsysError
        pyspark missing, no Java or Java < 17, a malformed memory size, or Spark failing to start.
    """
    check_spark_available()
    # pyspark 4.x warns on every pandas UDF that it does not fully support pandas 3; the APIs used here work
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    from pyspark.sql import SparkSession

    master = master or os.environ.get("RECSYS_SPARK_MASTER") or None
    driver_memory = driver_memory or os.environ.get("RECSYS_SPARK_DRIVER_MEMORY") or None
    if driver_memory is not None and not _MEMORY.match(str(driver_memory)):
        raise RecsysError(f"driver memory must look like 512m, 4g or 16g, got {driver_memory!r}",
                          hint="pass --driver-memory 4g (a number with k, m, g or t)")
    active = SparkSession.getActiveSession()
    if active is not None and (master is None or active.sparkContext.master == master):
        return active
    b = SparkSession.builder.appName(app_name)
    if master is not None:
        b = b.master(master)
    if master is None or master.startswith("local"):
        # local workers must run this interpreter (the one with numpy/scipy/recsys), not whatever python3 is
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        # 200 shuffle partitions (Spark's default) is tuned for clusters; a few per core suit one machine
        b = b.config("spark.sql.shuffle.partitions", str(max(4, 2 * (os.cpu_count() or 2))))
    if driver_memory is not None:
        b = b.config("spark.driver.memory", str(driver_memory))
    b = b.config("spark.sql.execution.arrow.pyspark.enabled", "true")
    b = b.config("spark.ui.showConsoleProgress", "false")
    b = b.config("spark.sql.adaptive.enabled", "true")
    for k, v in (conf or {}).items():
        b = b.config(k, str(v))
    try:
        spark = b.getOrCreate()
    except Exception as e:  # the JVM failed to start: the message is Java's, the hint ours
        raise RecsysError(f"Spark failed to start (master {master or 'default'!r}): {e}", hint=INSTALL_HINT) from e
    spark.sparkContext.setLogLevel(log_level)
    return spark
