import json, time, urllib.request
from tests.ops.test_dashboards import _alive, _get, _feed, live_monitor  # noqa
from tests.kafka.kit import wait_for

def test_debug(live_monitor, prometheus, bootstrap):
    base = f"http://127.0.0.1:{live_monitor['port']}"
    wait_for(lambda: _alive(base), 30, "ops")
    wait_for(lambda: _get(f"{base}/readyz")[0] == 200, 30, "ready")
    _feed(bootstrap, live_monitor["topic"])
    for i in range(15):
        t = time.perf_counter()
        body = urllib.request.urlopen(f"{base}/metrics", timeout=30).read()
        print(i, round(time.perf_counter() - t, 3), len(body), flush=True)
        time.sleep(0.5)
    print(live_monitor["log"].read_text()[-3000:])
