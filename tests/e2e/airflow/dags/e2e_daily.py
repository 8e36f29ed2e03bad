"""The e2e DAGs that stay healthy in shape, one file: each @daily, extract then dbt_build.

- healthy_daily: both succeed.
- failing_daily: extract succeeds, dbt_build exits 1 (retries=0) -> run failed.
- upstream_fail_daily: extract exits 1 -> dbt_build upstream_failed, run failed.
- paused_daily: paused at creation; never runs.

broken_daily lives in its own file: real_airflow.sh replaces that file to break it.
"""
import pendulum

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG
try:  # Airflow 3 (and 2.x with the standard provider)
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

# real_airflow.sh replaces the start date with "now" (UTC, minus a minute) when it copies this
# file, so the scheduler makes no run of its own today: the only runs are the ones it triggers.
START = pendulum.parse("__E2E_START_DATE__")

OK = "echo 'dbt build: OK'"
# dag_id -> (paused at creation, extract command, dbt_build command)
SHAPES = {
    "healthy_daily": (False, "echo extracted", "echo 'dbt build: 12 of 12 OK'"),
    "failing_daily": (False, "echo extracted", "echo 'Database Error in model fct_orders' >&2; exit 1"),
    "upstream_fail_daily": (False, "echo 'source API returned 503' >&2; exit 1", OK),
    "paused_daily": (True, "echo extracted", OK),
}

for dag_id, (paused, extract_command, dbt_command) in SHAPES.items():
    with DAG(
        dag_id=dag_id,
        schedule="@daily",
        start_date=START,
        catchup=False,
        is_paused_upon_creation=paused,
        tags=["tablestat-e2e"],
        default_args={"retries": 0},
    ) as dag:
        extract = BashOperator(task_id="extract", bash_command=extract_command)
        dbt_build = BashOperator(task_id="dbt_build", bash_command=dbt_command)
        extract >> dbt_build
    globals()[dag_id] = dag
