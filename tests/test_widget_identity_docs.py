"""docs/widget-identity.md: the Python and Node.js samples sign ids the widget session accepts."""

import importlib.util
import shutil
import subprocess
from pathlib import Path

import pytest

from chat.models import ContactIdentity
from tests.factories import InboxFactory

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"


def _python_sample():
    spec = importlib.util.spec_from_file_location("identity_hash_sample", EXAMPLES / "identity_hash.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _node_hash(external_id: str, secret: str) -> str:
    result = subprocess.run(
        ["node", str(EXAMPLES / "identity_hash.js"), external_id, secret],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return result.stdout.strip()


def _session(client, inbox, **body):
    return client.post(
        f"/api/v1/widget/{inbox.public_id}/session",
        body,
        content_type="application/json",
        HTTP_ORIGIN="http://testserver",
    )


@pytest.mark.django_db
def test_the_python_sample_opens_a_verified_session(client):
    inbox = InboxFactory()
    sample = _python_sample()
    # given the hash the website's backend computes for its user 42
    identity_hash = sample.cxhub_identity_hash("42", inbox.identity_secret)
    # when the widget starts a session with it
    response = _session(client, inbox, external_id="42", identity_hash=identity_hash, name="Maria")
    # then the contact holds a verified external identity
    assert response.status_code == 200, response.content
    identity = ContactIdentity.objects.get(kind="external", value="42")
    assert identity.verified and identity.contact_id == response.json()["contact_id"]
    # and the same hash for another user id is refused
    refused = _session(client, inbox, external_id="43", identity_hash=identity_hash)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "identity_invalid"


@pytest.mark.skipif(not shutil.which("node"), reason="needs Node.js")
@pytest.mark.parametrize("external_id", ["42", "user-éà-7", "a" * 200])
def test_the_node_sample_computes_the_same_hash_as_python(external_id):
    secret = "s3cret-é-" + "x" * 20
    assert _node_hash(external_id, secret) == _python_sample().cxhub_identity_hash(external_id, secret)


def test_the_tag_builder_escapes_what_it_renders(monkeypatch):
    monkeypatch.setenv("CXHUB_IDENTITY_SECRET", "k")
    tag = _python_sample().cxhub_widget_tag(
        cxhub_url="https://support.example", inbox_public_id="abc", user_id='7"><script>', name="<b>Maria</b>"
    )
    assert "<script>" not in tag.removeprefix("<script ").removesuffix("</script>")
    assert "&lt;b&gt;Maria&lt;/b&gt;" in tag and 'data-external-id="7&quot;&gt;&lt;script&gt;"' in tag
