"""paused_daily: @daily, paused at creation; never runs."""
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
# file, so the scheduler makes no run of its own today: the only run is the one the script triggers.
START = pendulum.parse("__E2E_START_DATE__")

with DAG(
    dag_id="paused_daily",
    schedule="@daily",
    start_date=START,
    catchup=False,
    is_paused_upon_creation=True,
    tags=["tablestat-e2e"],
    default_args={"retries": 0},
) as dag:
    extract = BashOperator(task_id="extract", bash_command="echo extracted")
    dbt_build = BashOperator(task_id="dbt_build", bash_command="echo 'dbt build: OK'")
    extract >> dbt_build
