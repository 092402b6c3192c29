# One image for every process (web, worker, beat, push); the compose file picks the command.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    WEBMAIL_DATA_DIR=/data WEBMAIL_STATIC_ROOT=/app/static-collected \
    DJANGO_SETTINGS_MODULE=webmail.settings

RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin webmail \
 && mkdir -p /app /data && chown webmail /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY webmail ./webmail
COPY accounts ./accounts
RUN pip install .
COPY manage.py ./
COPY templates ./templates
COPY static ./static
COPY locale ./locale

# Static files are served by whitenoise from the image, collected at build time. The
# build needs settings that import, not the production keys.
RUN WEBMAIL_SECRET_KEY=build WEBMAIL_ENCRYPTION_KEY=YnVpbGQtb25seS1rZXktMzItYnl0ZXMtbG9uZyEhISE= \
    WEBMAIL_DATA_DIR=/tmp/build DATABASE_URL=sqlite:////tmp/build/db.sqlite3 \
    python manage.py collectstatic --no-input -v 0 && rm -rf /tmp/build

USER webmail
EXPOSE 8000
CMD ["python", "-m", "uvicorn", "webmail.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--proxy-headers"]
