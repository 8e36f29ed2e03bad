"""Two DAGs whose dbt task is judged through dbt, for the both-at-once part of real_airflow.sh.
Both are created paused: the per-major checks never run them; both_at_once unpauses and
triggers each on one Airflow (driver.py run).

- shop_local (Airflow 3 there): dbt_build runs *real dbt* (`dbt build` of the e2e project,
  loaded with the test_failures data by real_dbt.sh) in __E2E_SHOP_DIR__; dbt exits 1, the
  task fails, and tablestat reads the target/ folder it wrote.
- shop_cloud (Airflow 2 there): dbt_build does what DbtCloudRunJobOperator does when the job
  it started fails: pushes the run id as XCom `job_run_id`, then raises. The run lives in the
  dbt Cloud fake (tests/e2e/dbt/fake_dbt_cloud.py), which serves real dbt artifacts.
"""
import pendulum

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:  # Airflow 3 (and 2.x with the standard provider)
    from airflow.providers.standard.operators.bash import BashOperator
    from airflow.providers.standard.operators.python import PythonOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator
    from airflow.operators.python import PythonOperator

START = pendulum.parse("__E2E_START_DATE__")
SHOP = "__E2E_SHOP_DIR__"
DBT = "__E2E_DBT__"
CLOUD_RUN_ID = 4242


def _cloud_job(ti, **_):
    ti.xcom_push(key="job_run_id", value=CLOUD_RUN_ID)
    raise RuntimeError(f"dbt Cloud job run {CLOUD_RUN_ID} failed")


def _dag(dag_id):
    return DAG(
        dag_id=dag_id,
        schedule="@daily",
        start_date=START,
        catchup=False,
        is_paused_upon_creation=True,
        tags=["tablestat-e2e"],
        default_args={"retries": 0},
    )


with _dag("shop_local") as shop_local:
    extract = BashOperator(task_id="extract", bash_command="echo extracted")
    dbt_build = BashOperator(
        task_id="dbt_build",
        bash_command=f"cd {SHOP} && {DBT} --no-use-colors build",
        env={"SHOP_DUCKDB": f"{SHOP}/shop.duckdb", "DBT_PROFILES_DIR": SHOP, "TZ": "UTC",
             "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false"},
        append_env=True,
    )
    extract >> dbt_build

with _dag("shop_cloud") as shop_cloud:
    extract = BashOperator(task_id="extract", bash_command="echo extracted")
    dbt_build = PythonOperator(task_id="dbt_build", python_callable=_cloud_job)
    extract >> dbt_build
