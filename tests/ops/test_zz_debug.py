import json, time, urllib.request
from tests.ops.test_dashboards import _alive, _get, _feed, live_monitor  # noqa
from tests.kafka.kit import wait_for

def test_debug(live_monitor, prometheus, bootstrap):
    base = f"http://127.0.0.1:{live_monitor['port']}"
    wait_for(lambda: _alive(base), 30, "ops")
    prom = prometheus([f"127.0.0.1:{live_monitor['port']}"])
    for i in range(8):
        time.sleep(1)
        t = prom.api("targets")["data"]["activeTargets"]
        print([(x["health"], x["lastError"]) for x in t])
    print(prom.query("monitor_ready"))
