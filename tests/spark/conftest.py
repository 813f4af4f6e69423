"""A real local Spark session (``local[2]``) for the Spark engine tests, started once per test session.

The tests skip, saying why, only when no Java 17+ runtime is installed; pyspark itself is installed by
``make test`` (the spark extra), so its absence is an error, not a skip.
"""

from __future__ import annotations

import pytest

from recsys.spark.session import MIN_JAVA, java_version


@pytest.fixture(scope="session")
def spark():
    found = java_version()
    if found is None or found[0] < MIN_JAVA:
        pytest.skip(f"the Spark engine needs Java {MIN_JAVA}+ and this machine has "
                    f"{'none' if found is None else found[1]!r}; install openjdk-17-jre-headless to run these tests")
    from recsys.spark.session import spark_session

    # 2 shuffle partitions: the test catalogs are tiny, more tasks would only add scheduling time
    s = spark_session("local[2]", app_name="recsys-tests", conf={"spark.sql.shuffle.partitions": "2"})
    yield s
    s.stop()


def pytest_configure(config):
    # pyspark 4.x warns that it does not fully support pandas 3 on every pandas UDF; the APIs used here work
    config.addinivalue_line("filterwarnings", "ignore:PySpark does not yet fully support pandas:FutureWarning")
    config.addinivalue_line("filterwarnings", "ignore:The copy keyword is deprecated::pyspark")
