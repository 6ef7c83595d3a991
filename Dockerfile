# syntax=docker/dockerfile:1.7
# ODF user-code image: serves odf.definitions over gRPC (Helm user deployment) and runs the
# run/step pods that K8sRunLauncher and k8s_job_executor start. Build from the repository root:
#   docker build -t registry.example.com/odf/odf-user-code:$(git rev-parse --short HEAD) .
FROM python:3.11-slim-bookworm

# uv pinned to the version that wrote uv.lock; Python comes from the base image, never downloaded.
COPY --from=ghcr.io/astral-sh/uv:0.13.9 /uv /uvx /bin/
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/odf/.venv

WORKDIR /opt/odf

# Dependencies first, from the lock files only: this layer is rebuilt only when they change.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-install-project --no-dev

# Then the project itself (cheap layer, rebuilt on every code change).
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev

# The project is installed editable, so UV_COMPILE_BYTECODE compiled only the dependencies; the pods
# (uid 10001, over a root-owned /opt/odf) cannot write .pyc files and would re-parse ODF's own modules
# in every run and step pod. Compile them here (bench/startup.py measures both layouts).
RUN /opt/odf/.venv/bin/python -m compileall -q odf odf_assets odf_resources odf_sensors odf_cli odf_core

# A fixed numeric user, so Kubernetes can enforce runAsNonRoot (helm/values.yaml uses uid 10001).
RUN groupadd --system --gid 10001 odf \
    && useradd --system --uid 10001 --gid odf --home-dir /home/odf --create-home odf \
    && mkdir -p /opt/dagster/dagster_home \
    && chown odf:odf /opt/dagster/dagster_home
ENV PATH="/opt/odf/.venv/bin:${PATH}" \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    PYTHONUNBUFFERED=1
USER 10001:10001

EXPOSE 3030
# The Helm chart passes its own args (same command); this default makes `docker run` serve too.
CMD ["dagster", "api", "grpc", "-h", "0.0.0.0", "-p", "3030", "-m", "odf.definitions"]
