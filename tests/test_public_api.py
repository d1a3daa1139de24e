"""The curated public API in monitor/__init__.py: every name resolves, and importing the
package loads none of them (the SDK must not pull in the service)."""

import subprocess
import sys

import monitor


def test_every_public_name_resolves_to_what_its_module_defines():
    assert sorted(monitor.__all__) == sorted(monitor._EXPORTS)
    for name in monitor.__all__:
        module, attribute = monitor._EXPORTS[name]
        assert getattr(monitor, name) is getattr(sys.modules[module], attribute)
        assert name in dir(monitor)


def test_replay_files_stays_the_function_once_the_replay_module_is_imported():
    import monitor.pipeline.files

    assert monitor.replay_files is monitor.pipeline.files.replay


def test_an_unknown_name_is_an_attribute_error():
    try:
        monitor.no_such_name  # noqa: B018 (the attribute access is the test)
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("no AttributeError")


def test_importing_the_package_imports_no_submodule():
    code = "import sys, monitor; print(sorted(m for m in sys.modules if m.startswith('monitor.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
