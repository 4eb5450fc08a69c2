# One image for web, worker, beat (and later the stream process): the command differs.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/var/lib/tradingsite
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Placeholder keys only for this step, so no real key is ever baked into the image.
RUN mkdir -p "$VAR_DIR" && SECRET_KEY=build-only FIELD_ENCRYPTION_KEY=build-only \
    python manage.py collectstatic --noinput -v0
EXPOSE 8000
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "tradingsite.asgi:application"]
