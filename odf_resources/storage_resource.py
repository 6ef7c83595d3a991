"""ODF storage as a Dagster resource: the IO manager nests it; sensors, jobs and assets that read or
write objects directly take it as ``odf_storage``."""

import dagster as dg
import pydantic
from pydantic import PrivateAttr

from odf_resources import settings
from odf_resources.storage import Storage, storage_from_uri


class OdfStorage(dg.ConfigurableResource):
    """The ODF storage base (``ODF_STORAGE``): a local directory or ``s3://bucket/prefix``."""

    base: str = pydantic.Field(description="Local directory or s3://bucket/prefix (see ODF_STORAGE).")
    _storage: Storage | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Refuse local storage on an instance that launches runs as Kubernetes Jobs (the production
        instance, deploy/dagster.yaml and the Helm chart): every run would write to its pod's disk."""
        launcher = type(context.instance.run_launcher) if context.instance is not None else None
        if launcher and launcher.__module__.startswith("dagster_k8s") and not settings.is_shared_storage(self.base):
            reason = f"the Dagster instance launches runs as Kubernetes Jobs ({launcher.__name__})"
            raise dg.DagsterInvariantViolationError(settings.local_storage_refusal(self.base.strip(), reason))

    def get(self) -> Storage:
        if self._storage is None:
            try:
                self._storage = storage_from_uri(self.base.strip())
            except ValueError as error:  # a wrong ODF_STORAGE: retrying cannot fix it
                raise dg.Failure(description=f"ODF_STORAGE: {error}", allow_retries=False) from None
        return self._storage
