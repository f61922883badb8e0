# kubenode: one image, three roles, each started by scripts/entrypoint.sh (the same script the tests start it with):
#   serve (default)  the web role: daphne serving pages, the admin and /ws/progress/
#   worker           the worker role: claims queued batches and runs their node operations
#   listen           the standalone listener (progress.listener=standalone): doorbells into channels-redis
#   migrate, wait-migrations, manage ARGS…
# Manifests: deploy/ (kustomize). Operations: docs/operations.md.
#   docker build -t kubenode .                        # on python:3.11-slim
#   docker build --build-arg BASE_IMAGE=… -t kubenode .   # any Debian-like base with python3 and its venv module
#   scripts/image.sh build                            # how the tests build it: a Debian bookworm base, buildah
#
# Everything Python is installed into a virtual environment (/opt/venv), so the image builds the same on
# python:3.11-slim and on a Debian base whose own python3 is "externally managed". Two stages: `venv` builds that
# environment with a compiler (python-ldap, for LDAP logins, compiles against libldap2-dev and libsasl2-dev); the
# final image copies it and carries only the run-time libraries (libldap-2.5-0, libsasl2-2), no compiler, no headers.
# Both stages install Debian packages with apt-get: the base needs apt (python:3.11-slim and scripts/image.sh's have it).
# Not in the image: the simulator (kubesim/), tests, benchmarks, docs (.dockerignore is an allow-list).
ARG BASE_IMAGE=python:3.11-slim

# ---- stage 1: the virtual environment, compiled where needed ----
FROM ${BASE_IMAGE} AS venv
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBIAN_FRONTEND=noninteractive
# psycopg[binary] and cryptography ship wheels; python-ldap (requirements-logins.txt) is compiled here. Python's own
# headers: python:3.11-slim has them, Debian's python3 needs python3-dev.
RUN build="gcc libc6-dev libldap2-dev libsasl2-dev" \
 && python3 -c 'import os, sysconfig, sys; sys.exit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
    || build="$build python3-dev" \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends $build >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY requirements.txt requirements-logins.txt ./
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install -r requirements.txt -r requirements-logins.txt \
 && chmod -R a+rX /opt/venv

# ---- stage 2: the image ----
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DJANGO_SETTINGS_MODULE=kubenode.settings \
    KUBENODE_DATA_DIR=/app/var \
    PYTHON=/opt/venv/bin/python \
    BIND=0.0.0.0 \
    PORT=8000

WORKDIR /app
# Metadata before the layers that change with the code: with buildah's vfs storage every instruction after a
# changed one is a full copy of the filesystem, so a code change rebuilds only the last three.
EXPOSE 8000 8001 8002
ENTRYPOINT ["/app/scripts/entrypoint.sh"]
CMD ["serve"]

# The run-time libraries of python-ldap (a layer that changes only with this line), then the environment built above.
RUN export DEBIAN_FRONTEND=noninteractive \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libldap-2.5-0 libsasl2-2 >/dev/null \
 && rm -rf /var/lib/apt/lists/*
COPY --from=venv /opt/venv /opt/venv
COPY requirements.txt requirements-logins.txt ./
RUN /opt/venv/bin/python -c "import daphne, django, psycopg, kubernetes, channels_redis, ldap, django_auth_ldap"

RUN (getent group 10001 >/dev/null || groupadd --system --gid 10001 kubenode) \
 && (getent passwd 10001 >/dev/null || useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin kubenode)

# The application: what .dockerignore lets through (an allow-list), in one layer.
COPY . ./

# The translations compiled from locale/*/*.po with Debian's gettext (in the base of scripts/image.sh; installed with
# apt on a base without it), then static files collected at build time into KUBENODE_DATA_DIR/static (served by
# whitenoise), so the root filesystem can be read-only at run time. collectstatic needs settings, not a database.
RUN scripts/compile-messages.sh && rm scripts/compile-messages.sh \
 && DEBUG=1 SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput --verbosity 0 \
 && rm -f /app/var/debug-secret-key \
 && find /app -name __pycache__ -prune -exec rm -rf {} + \
 && chmod -R a+rX /app \
 && chown 10001:10001 /app/var

USER 10001:10001
