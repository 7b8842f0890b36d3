"""The real-server fixture answers HTTP and sees the test database."""

import urllib.request


def test_live_server_serves_health(live_server_url):
    # given a running live server
    # when a client asks for /healthz
    with urllib.request.urlopen(f"{live_server_url}/healthz", timeout=5) as response:
        # then it answers
        assert response.status == 200
