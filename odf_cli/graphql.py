"""A thin client for the Dagster webserver's GraphQL API: the queries the ``odf`` remote commands need,
with every transport or API problem turned into one clear ``CommandError`` naming the URL."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from urllib.parse import urlsplit

from odf_cli.main import CommandError
from odf_resources import settings

# requests and dagster_graphql are imported inside the calls: the CLI parses arguments without them.

DEFAULT_URL = "http://127.0.0.1:3000"
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 60
# The implicit job that holds every asset: what the UI's "Materialize" button launches.
ASSET_JOB = "__ASSET_JOB"

ASSET_NODES = """
query OdfAssetNodes($keys: [AssetKeyInput!]) {
  assetNodes(assetKeys: $keys) {
    assetKey { path }
    isPartitioned
    partitionKeys
    partitionDefinition { description }
    tags { key value }
    repository { name location { name } }
  }
}"""

ASSET_KEYS = "query OdfAssetKeys { assetNodes { assetKey { path } } }"

LAUNCH_BACKFILL = """
mutation OdfBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""

RUN = """
query OdfRun($id: ID!) {
  runOrError(runId: $id) {
    __typename
    ... on Run {
      runId status jobName startTime endTime allPools
      tags { key value }
      assetSelection { path }
    }
    ... on Error { message }
  }
}"""

RUN_EVENTS = """
query OdfRunEvents($id: ID!, $cursor: String) {
  logsForRun(runId: $id, afterCursor: $cursor, limit: 1000) {
    __typename
    ... on EventConnection {
      cursor hasMore
      events {
        __typename
        ... on MessageEvent { stepKey timestamp message eventType }
        ... on ErrorEvent { error { message cause { message } } }
        ... on MaterializationEvent {
          assetKey { path } partition
          metadataEntries { label ... on IntMetadataEntry { intValue } }
        }
        ... on AssetCheckEvaluationEvent {
          evaluation { checkName assetKey { path } success severity partition description }
        }
      }
    }
    ... on PythonError { message }
  }
}"""

IN_PROGRESS_RUNS = """
query OdfRunsInProgress {
  runsOrError(filter: {statuses: [STARTING, STARTED]}) {
    __typename
    ... on Runs { results { runId allPools } }
  }
}"""

POOL_LIMIT = """
query OdfPoolLimit($pool: String!) {
  instance { concurrencyLimit(concurrencyKey: $pool) { limit } }
}"""

CHILD_RUNS = """
query OdfChildRuns($tags: [ExecutionTag!]) {
  runsOrError(filter: {tags: $tags}, limit: 5) {
    __typename
    ... on Runs { results { runId status } }
  }
}"""

BACKFILL = """
query OdfBackfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id status numPartitions title
      runs { runId status }
      assetBackfillData {
        assetBackfillStatuses {
          ... on AssetPartitionsStatusCounts {
            assetKey { path }
            numPartitionsTargeted numPartitionsMaterialized numPartitionsFailed numPartitionsInProgress
          }
        }
      }
    }
    ... on Error { message }
  }
}"""

MATERIALIZATIONS = """
query OdfResults($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: $partitions, limit: 1) {
        runId timestamp partition
        metadataEntries { label ... on PathMetadataEntry { path } ... on TextMetadataEntry { text } }
      }
    }
    ... on AssetNotFoundError { message }
  }
}"""


def default_url() -> str:
    """``ODF_DAGSTER_URL``: the Dagster webserver the remote commands talk to (default 127.0.0.1:3000)."""
    return settings.dagster_url(DEFAULT_URL)


@dataclass(frozen=True)
class AssetNode:
    key: str
    partition_keys: tuple[str, ...] | None  # None when the asset is not partitioned
    partitioning: str
    tags: dict[str, str]
    location: str
    repository: str


class Webserver:
    """One Dagster webserver, addressed by its base URL (``http://host:port[/prefix]``)."""

    def __init__(self, url: str):
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CommandError(f"--url {url!r} is not an http(s) URL like {DEFAULT_URL}")
        self.url = url.strip().rstrip("/")
        self._parts = parts

    def execute(self, document: str, variables: dict | None = None) -> dict:
        import requests

        try:
            response = requests.post(
                f"{self.url}/graphql",
                json={"query": document, "variables": variables or {}},
                timeout=(CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS),
            )
        except requests.ConnectionError:
            raise CommandError(
                f"cannot reach the Dagster webserver at {self.url} (is `odf dev` running? set --url or ODF_DAGSTER_URL)"
            ) from None
        except requests.Timeout:
            raise CommandError(
                f"the Dagster webserver at {self.url} did not answer within {READ_TIMEOUT_SECONDS}s"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or ("data" not in body and "errors" not in body):
            raise CommandError(
                f"{self.url}/graphql answered HTTP {response.status_code} without GraphQL data: "
                "is this a Dagster webserver?"
            )
        if body.get("errors"):
            raise CommandError(
                f"{self.url}/graphql rejected the query: {body['errors'][0].get('message', body['errors'][0])}"
            )
        return body["data"]

    def asset_nodes(self, keys: list[str]) -> dict[str, AssetNode]:
        """The definitions of ``keys`` that exist; unknown keys are simply absent."""
        variables = {"keys": [{"path": key.split("/")} for key in keys]}
        nodes = {}
        for raw in self.execute(ASSET_NODES, variables)["assetNodes"]:
            key = "/".join(raw["assetKey"]["path"])
            nodes[key] = AssetNode(
                key=key,
                partition_keys=tuple(raw["partitionKeys"]) if raw["isPartitioned"] else None,
                partitioning=(raw.get("partitionDefinition") or {}).get("description", ""),
                tags={tag["key"]: tag["value"] for tag in raw["tags"]},
                location=raw["repository"]["location"]["name"],
                repository=raw["repository"]["name"],
            )
        return nodes

    def all_asset_keys(self) -> list[str]:
        return sorted("/".join(node["assetKey"]["path"]) for node in self.execute(ASSET_KEYS)["assetNodes"])

    def launch_assets(self, nodes: list[AssetNode], tags: dict[str, str]) -> str:
        """Launches one run of the implicit asset job for exactly ``nodes``; returns the run id."""
        from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

        client = DagsterGraphQLClient(
            self._parts.hostname,
            port_number=self._parts.port,
            use_https=self._parts.scheme == "https",
            path_prefix=self._parts.path.rstrip("/"),
            timeout=READ_TIMEOUT_SECONDS,
        )
        try:
            with warnings.catch_warnings():
                # dagster_graphql 1.13 passes arguments to gql that gql has deprecated; not ours to fix.
                warnings.simplefilter("ignore", DeprecationWarning)
                return client.submit_job_execution(
                    ASSET_JOB,
                    repository_location_name=nodes[0].location,
                    repository_name=nodes[0].repository,
                    asset_selection=[node.key.split("/") for node in nodes],
                    tags=tags,
                )
        except DagsterGraphQLClientError as error:
            # args = (error type, message) or (message,); body carries structured details.
            parts = [str(part) for part in (*error.args, error.body) if part]
            detail = ": ".join(parts)[:500] or type(error).__name__
            raise CommandError(f"{self.url} refused the launch: {' '.join(detail.split())}") from None

    def launch_backfill(self, keys: list[str], partitions: list[str], tags: dict[str, str], title: str) -> str:
        params = {
            "assetSelection": [{"path": key.split("/")} for key in keys],
            "partitionNames": partitions,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
            "title": title,
        }
        result = self.execute(LAUNCH_BACKFILL, {"params": params})["launchPartitionBackfill"]
        if result["__typename"] != "LaunchBackfillSuccess":
            raise CommandError(f"{self.url} refused the backfill: {result['__typename']}: {result.get('message', '')}")
        return result["backfillId"]

    def run(self, run_id: str) -> dict | None:
        result = self.execute(RUN, {"id": run_id})["runOrError"]
        return result if result["__typename"] == "Run" else None

    def run_events(self, run_id: str, cursor: str | None) -> tuple[list[dict], str | None, bool]:
        """Events of ``run_id`` after ``cursor``: (events, next cursor, more waiting)."""
        result = self.execute(RUN_EVENTS, {"id": run_id, "cursor": cursor})["logsForRun"]
        if result["__typename"] != "EventConnection":
            raise CommandError(
                f"{self.url} could not list the events of run {run_id}: {result.get('message', result['__typename'])}"
            )
        return result["events"], result["cursor"], result["hasMore"]

    def runs_in_progress(self) -> list[dict]:
        """Runs holding their pools' slots (starting or started), each with ``allPools``."""
        result = self.execute(IN_PROGRESS_RUNS)["runsOrError"]
        return result["results"] if result["__typename"] == "Runs" else []

    def pool_limit(self, pool: str) -> int | None:
        """The instance's limit for ``pool`` (the default limit when the pool has none of its own)."""
        return self.execute(POOL_LIMIT, {"pool": pool})["instance"]["concurrencyLimit"]["limit"]

    def runs_tagged(self, key: str, value: str) -> list[dict]:
        """Runs carrying tag ``key=value``, newest first (e.g. the retries of a run)."""
        result = self.execute(CHILD_RUNS, {"tags": [{"key": key, "value": value}]})["runsOrError"]
        return result["results"] if result["__typename"] == "Runs" else []

    def backfill(self, backfill_id: str) -> dict | None:
        result = self.execute(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        return result if result["__typename"] == "PartitionBackfill" else None

    def latest_materialization(self, key: str, partition: str | None) -> dict | None:
        variables = {"key": {"path": key.split("/")}, "partitions": [partition] if partition else None}
        result = self.execute(MATERIALIZATIONS, variables)["assetOrError"]
        if result["__typename"] != "Asset":
            return None
        events = result["assetMaterializations"]
        return events[0] if events else None
