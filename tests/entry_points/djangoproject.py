"""A minimal Django project, settings in code: what the upload tests serve through every entry point.

``POST /upload`` answers, as JSON, what Django read (``request.body``: ``CONTENT_LENGTH`` bytes of
``wsgi.input``, as Django always reads), its SHA-256, and the framing keys the environ had. Every
response carries ``X-App: django``, so a test can tell the application's answers from the server's.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="wsgicore-tests",
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    # The large upload is several MiB: the body limit is the server's here, not Django's.
    DATA_UPLOAD_MAX_MEMORY_SIZE=None,
)

from django.core.wsgi import get_wsgi_application  # noqa: E402  (after settings.configure)
from django.http import HttpRequest, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.csrf import csrf_exempt  # noqa: E402


@csrf_exempt
def upload(request: HttpRequest) -> JsonResponse:
    body = request.body
    environ: dict[str, Any] = request.META
    response = JsonResponse({
        "length": len(body),
        "sha256": hashlib.sha256(body).hexdigest(),
        "content_length": environ.get("CONTENT_LENGTH"),
        "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING"),
        "input_terminated": environ.get("wsgi.input_terminated"),
    })
    response["X-App"] = "django"
    return response


urlpatterns = [path("upload", upload)]
application = get_wsgi_application()
