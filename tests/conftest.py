"""Jit mode (tests/jit_mode.py): ``--jit`` or ``TANGENT2_TEST_JIT=1`` runs the suites of ``JIT_SUITES`` with
every derivative they call also compiled by ``tangent2.jit`` and compared; tests marked ``jit_smoke`` run in
jit mode in every run, so the default run exercises the mechanism."""
import os

import pytest

pytest_plugins = ["pytester"]   # tests/test_jit_mode.py runs pytest on a stale no_jit marker

# the core and nesting suites; the other suites test tangent2.jit itself, error messages, rules or fuzzing
JIT_SUITES = {"test_api.py", "test_nested.py", "test_loop_carried_trees.py", "test_samples.py",
              "test_tree.py", "test_vmap.py"}


def pytest_addoption(parser):
    parser.addoption("--jit", action="store_true", default=False,
                     help="run the core and nesting suites in jit mode: every derivative a test calls is also "
                          "compiled with tangent2.jit and must match the Python result (tests/jit_mode.py)")


def pytest_configure(config):
    config.addinivalue_line("markers", "no_jit(reason): in jit mode, this test's derivatives cannot all be "
                                       "compiled, for the documented reason (docs/jit.md); the test fails if they can")
    config.addinivalue_line("markers", "jit_smoke: run in jit mode in every run, not only with --jit")
    config.jit_mode_totals = {}   # suite file -> counts


def jit_mode_requested(config):
    return config.getoption("--jit") or os.environ.get("TANGENT2_TEST_JIT", "") not in ("", "0")


@pytest.fixture
def jit_mode_active(request):
    """Whether this test runs in jit mode."""
    return request.node.get_closest_marker("jit_smoke") is not None or (
        jit_mode_requested(request.config) and request.node.path.name in JIT_SUITES)


@pytest.fixture(autouse=True)
def _jit_mode(request, jit_mode_active):
    if not jit_mode_active:
        yield None
        return
    from jit_mode import JitMode
    marker = request.node.get_closest_marker("no_jit")
    if marker is not None and not marker.kwargs.get("reason"):
        pytest.fail("@pytest.mark.no_jit needs reason=... (listed in docs/jit.md)")
    mode = JitMode(expect_compile_failures=marker is not None)
    with mode:
        yield mode
    totals = request.config.jit_mode_totals.setdefault(
        request.node.path.name, {"tests": 0, "checked": 0, "no_jit": 0, "no_derivatives": 0})
    totals["tests"] += 1
    totals["checked"] += mode.checked
    totals["no_jit"] += marker is not None
    totals["no_derivatives"] += mode.checked == 0
    if marker is not None and not mode.failures and not _failed(request):
        pytest.fail(f"marked no_jit ({marker.kwargs['reason']}) but every derivative compiled in jit mode: "
                    "remove the marker (and its line in docs/jit.md)")


def _failed(request):
    report = getattr(request.node, "_jit_call_report", None)
    return report is not None and report.failed


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    if call.when == "call":
        item._jit_call_report = outcome.get_result()


def pytest_terminal_summary(terminalreporter, config):
    for suite, totals in sorted(config.jit_mode_totals.items()):
        terminalreporter.write_line(
            f"jit mode, {suite}: {totals['tests']} tests ran, {totals['checked']} compiled derivative calls compared "
            f"with Python; {totals['no_jit']} marked no_jit; {totals['no_derivatives']} called no derivative")
