# kubenode: daphne serving the Django application, started by scripts/entrypoint.sh (the same
# script the tests start it with). Manifests: deploy/ (kustomize). Operations: docs/operations.md.
#   docker build -t kubenode .
#   docker run --rm --env-file kubenode.env kubenode migrate          # what the migrations Job runs
#   docker run --rm --env-file kubenode.env -p 8000:8000 kubenode     # serve (the default command)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=kubenode.settings \
    KUBENODE_DATA_DIR=/app/var \
    PYTHON=python3 \
    BIND=0.0.0.0 \
    PORT=8000

WORKDIR /app

# Dependencies first (a layer that changes only with requirements.txt). psycopg[binary] and
# cryptography ship wheels: no compiler needed.
COPY requirements.txt ./
RUN pip install -r requirements.txt

RUN groupadd --system --gid 10001 kubenode \
 && useradd --system --uid 10001 --gid kubenode --home-dir /app --no-create-home --shell /usr/sbin/nologin kubenode

COPY manage.py ./
COPY kubenode ./kubenode
COPY nodes ./nodes
COPY progress ./progress
COPY templates ./templates
COPY static ./static
COPY scripts/entrypoint.sh ./scripts/entrypoint.sh

# Static files collected at build time into KUBENODE_DATA_DIR/static (served by whitenoise), so the
# root filesystem can be read-only at run time. collectstatic needs settings, not a database.
RUN DEBUG=1 SECRET_KEY=collectstatic-only python3 manage.py collectstatic --noinput --verbosity 0 \
 && rm -f /app/var/debug-secret-key \
 && chmod -R a+rX /app \
 && chown kubenode:kubenode /app/var

USER 10001:10001
EXPOSE 8000
ENTRYPOINT ["/app/scripts/entrypoint.sh"]
CMD ["serve"]
