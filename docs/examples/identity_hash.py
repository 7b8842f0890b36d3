"""Sample for the website's backend (Python): sign the signed-in user's id for the cxhub widget.

identity_hash = hex HMAC-SHA256(key = the inbox's identity secret, message = the user's id)
The secret stays on the server (environment variable); only the hash goes into the page.
"""

import hashlib
import hmac
import os


def cxhub_identity_hash(external_id: str, secret: str | None = None) -> str:
    secret = secret if secret is not None else os.environ["CXHUB_IDENTITY_SECRET"]
    return hmac.new(secret.encode("utf-8"), external_id.encode("utf-8"), hashlib.sha256).hexdigest()


def cxhub_widget_tag(*, cxhub_url: str, inbox_public_id: str, user_id: str, name: str = "", email: str = "") -> str:
    """The <script> tag for a signed-in user's page (escape what you put in HTML)."""
    from html import escape

    attributes = {
        "src": f"{cxhub_url}/static/chat/widget.js",
        "data-inbox": inbox_public_id,
        "data-external-id": user_id,
        "data-identity-hash": cxhub_identity_hash(user_id),
        "data-name": name,
        "data-email": email,
    }
    rendered = " ".join(f'{key}="{escape(value)}"' for key, value in attributes.items() if value)
    return f"<script {rendered} defer></script>"


if __name__ == "__main__":
    import sys

    print(cxhub_identity_hash(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None))  # noqa: T201
