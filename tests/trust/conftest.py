"""Trust tests (issue #9): the figures they count are printed in the terminal summary."""

from .figures import FIGURES


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("trust figures")
        for name, value in sorted(FIGURES.items()):
            terminalreporter.write_line(f"{name}: {value}")


# The browser fixtures of tests/e2e (Debian's chromium through Playwright), shared here.
from tests.e2e.conftest import _django_calls_between_playwright_calls, chromium, new_page  # noqa: E402,F401
