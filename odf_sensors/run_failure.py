"""The run-failure sensor: every failed run is logged, tagged with the alert outcome and, when a
webhook is configured, POSTed to it (JSON, short timeout).

Alerting must never become a second failure: webhook errors are logged as a warning and the tick
still succeeds. The webhook URL usually carries a token, so only its host is ever logged, and error
texts are cut short and stripped of URL credentials and query values before they leave Dagster.
"""

import re
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

import dagster as dg

from odf_resources.run_tags import WILL_RETRY_TAG, run_partition

RUN_FAILURE_SENSOR = "odf_run_failure_sensor"
ALERT_TAG = "odf/alert"
MAX_ERROR_CHARS = 600
# user:password@ in URLs and the values of query parameters (API tokens live there).
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s@]+@")
_URL_QUERY_VALUE = re.compile(r"(?P<name>[?&][^=&\s#]+)=[^&\s#'\"]*")


@dataclass(frozen=True)
class FailureRecord:
    job: str
    run_id: str
    partition: str | None
    step: str | None
    error: str
    will_retry: bool = False


def scrub(text: str) -> str:
    """Error text safe for logs and webhooks: no URL credentials or query values, bounded length."""
    text = _URL_QUERY_VALUE.sub(r"\g<name>=…", _URL_USERINFO.sub(r"\g<scheme>", text))
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def webhook_host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


def failure_record(context: dg.RunFailureSensorContext) -> FailureRecord:
    run = context.dagster_run
    step_failures = context.get_step_failure_events()
    if step_failures:
        first = step_failures[0]
        error = first.step_failure_data.error
        message = error.message.strip() if error else first.message or ""
        step = first.step_key
    else:  # run-level failures: launch errors, crashed workers, missing resources
        message, step = context.failure_event.message or "run failed", None
    tags = dict(run.tags)
    return FailureRecord(
        job=run.job_name,
        run_id=run.run_id,
        partition=run_partition(tags),
        step=step,
        error=scrub(message),
        will_retry=tags.get(WILL_RETRY_TAG) == "true",
    )


def post_alert(url: str, record: FailureRecord, timeout_seconds: float) -> str | None:
    """POSTs the record; returns None on a 2xx answer, otherwise a short reason (never raises)."""
    text = (
        f"ODF run failed: {record.job}"
        + (f" [{record.partition}]" if record.partition else "")
        + f" ({record.run_id}"
        + (", will be retried" if record.will_retry else "")
        + f"): {record.error}"
    )
    from urllib.parse import urljoin

    import requests  # only when alerting: the code location loads without it

    payload = {"text": text, **asdict(record)}
    origin = _origin(url)
    try:
        for _hop in range(MAX_ALERT_REDIRECTS + 1):
            # Redirects are followed by hand: only to the same scheme, host and port, never elsewhere
            # (a 307 would re-send the alert, and the webhook's token, to a host nobody vetted).
            response = requests.post(url, json=payload, timeout=timeout_seconds, allow_redirects=False)
            if not response.is_redirect:
                break
            url = urljoin(url, response.headers.get("Location", ""))
            if _origin(url) != origin:
                return f"HTTP {response.status_code}: redirect to another host not followed"
        else:
            return f"HTTP {response.status_code}: more than {MAX_ALERT_REDIRECTS} redirects"
    except requests.RequestException as error:
        # The exception text would contain the full URL; the type says enough.
        return type(error).__name__
    return None if response.ok else f"HTTP {response.status_code}"


MAX_ALERT_REDIRECTS = 3


def _origin(url: str) -> tuple:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def build_run_failure_sensor(
    webhook_url: str | None, timeout_seconds: float, minimum_interval_seconds: int
) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name=RUN_FAILURE_SENSOR,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Logs every failed ODF run (job, run id, partition, error) "
        "and posts it to ODF_ALERT_WEBHOOK_URL if set.",
    )
    def odf_run_failure_sensor(context: dg.RunFailureSensorContext) -> None:
        """Logs every failed run and posts it to the alert webhook when one is configured."""
        record = failure_record(context)
        context.log.error(
            f"run failed: job={record.job} run_id={record.run_id} partition={record.partition or '-'} "
            f"step={record.step or '-'} will_retry={record.will_retry} error={record.error}"
        )
        outcome = "logged"
        if webhook_url:
            problem = post_alert(webhook_url, record, timeout_seconds)
            if problem:
                context.log.warning(f"alert webhook {webhook_host(webhook_url)} failed: {problem}")
            outcome = f"webhook failed: {problem}" if problem else "webhook sent"
        # The outcome on the failed run itself: visible in the UI and queryable, no side store needed.
        context.instance.add_run_tags(record.run_id, {ALERT_TAG: outcome})

    return odf_run_failure_sensor
