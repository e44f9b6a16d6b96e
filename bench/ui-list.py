# Web UI device list vs JSON list endpoint, side by side (docs/benchmarks.md).
# Needs a server with 100k devices at $BASE, admin password "benchpw", and a UI session cookie
# in ./jar (curl -c jar -d password=benchpw $BASE/ui/login). Cursor MACs are for gen_csv data.
import subprocess, statistics, sys
import os
B=os.environ.get("BASE", "http://127.0.0.1:18995")
def t(url, auth):
    args=["curl","-s","-o","/dev/null","-w","%{http_code} %{time_total}"]
    args += (["-u","admin:benchpw"] if auth=="api" else ["-b","jar"])
    out=[]
    for i in range(15):
        code, secs = subprocess.run(args+[B+url],capture_output=True,text=True).stdout.split()
        assert code=="200", (url, code)
        out.append(float(secs)*1000)
    return statistics.median(out)
cases=[
 ("first page, by MAC", "/api/v1/devices?limit=50", "/ui/devices/rows"),
 ("page at position ~99,950, by MAC", "/api/v1/devices?limit=50&offset=99950", "/ui/devices/rows?after=805ec001866d"),
 ("first page, by name", "/api/v1/devices?limit=50&sort=name", "/ui/devices/rows?sort=name"),
 ("page at position ~99,950, by name", "/api/v1/devices?limit=50&sort=name&offset=99950", "/ui/devices/rows?sort=name&after=805ec0018671"),
 ("first page, by last config request (desc)", "/api/v1/devices?limit=50&sort=last_config_request&desc=true", "/ui/devices/rows?sort=last&dir=desc"),
 ("search \"bench-9999\" (11 matches)", "/api/v1/devices?limit=50&search=bench-9999", "/ui/devices/rows?q=bench-9999"),
 ("whole Devices page (first page + chrome)", None, "/ui/devices"),
]
print("| Case | JSON list `/api/v1/devices` (ms) | UI `/ui/devices/rows` (ms) | ratio JSON/UI |")
print("|---|---:|---:|---:|")
for name, api, ui in cases:
    u=t(ui,"ui")
    if api:
        a=t(api,"api")
        print(f"| {name} | {a:.1f} | {u:.1f} | {a/u:.1f}x |")
    else:
        print(f"| {name} | – | {u:.1f} | – |")
