import pytest


def pytest_sessionfinish(session, exitstatus):
    """A skipped test is not a passing one: any skip fails the run, with the reasons listed by -ra."""
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped and exitstatus == pytest.ExitCode.OK:
        reporter.write_line(
            f"{len(skipped)} test(s) skipped: the suite needs torch and Chromium (make test)", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
