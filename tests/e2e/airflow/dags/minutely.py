"""minutely_e2e: scheduled every minute, created paused. real_airflow.sh unpauses it after
the main checks, lets it run, then stops the scheduler: no run starts, nothing fails, and
tablestat must call the table late, then missed, naming the scheduler; a restart brings it
back up.
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

with DAG(
    dag_id="minutely_e2e",
    schedule="* * * * *",
    start_date=pendulum.parse("__E2E_START_DATE__"),
    catchup=False,
    is_paused_upon_creation=True,
    tags=["tablestat-e2e"],
    default_args={"retries": 0},
) as minutely_e2e:
    BashOperator(task_id="dbt_build", bash_command="echo 'dbt build: 3 of 3 OK'")
