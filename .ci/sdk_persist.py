#!/usr/bin/env python3
"""Persistence check driven by the official SDK: `create` makes a function with a timer
trigger, an async config and a dependency version and prints nothing on success;
`check` (after the emulator restarted on the same --data) reads them all back and
compares digests. Exit 0 = everything still there."""
import argparse
import base64
import hashlib
import io
import sys
import zipfile

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkfunctiongraph.v2 import FunctionGraphClient
from huaweicloudsdkfunctiongraph.v2 import model as m

NAME = "persisted_fn"


def code():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("index.py", date_time=(2020, 1, 1, 0, 0, 0))
        z.writestr(info, "def handler(event, context):\n    return 'kept'\n")
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["create", "check"])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--project-id", required=True)
    ap.add_argument("--ak", required=True)
    ap.add_argument("--sk", required=True)
    a = ap.parse_args()
    cfg = HttpConfig.get_default_config()
    cfg.retry_times = 0
    c = (FunctionGraphClient.new_builder()
         .with_credentials(BasicCredentials(a.ak, a.sk, a.project_id))
         .with_endpoints([a.endpoint]).with_http_config(cfg).build())
    zip_bytes = code()
    digest = hashlib.sha512(zip_bytes).hexdigest()
    urn_short = NAME
    if a.mode == "create":
        f = c.create_function(m.CreateFunctionRequest(body=m.CreateFunctionRequestBody(
            func_name=NAME, package="default", runtime="Python3.9", handler="index.handler",
            memory_size=256, timeout=30, code_type="zip", code_filename="index.zip",
            func_code=m.FuncCode(file=base64.b64encode(zip_bytes).decode()))))
        c.create_function_trigger(m.CreateFunctionTriggerRequest(function_urn=f.func_urn,
            body=m.CreateFunctionTriggerRequestBody(trigger_type_code="TIMER", trigger_status="DISABLED",
                event_data=m.TriggerEventDataRequestBody(name="nightly", schedule_type="Cron", schedule="0 30 2 * * ?"))))
        c.update_function_async_invoke_config(m.UpdateFunctionAsyncInvokeConfigRequest(function_urn=f.func_urn,
            body=m.UpdateFunctionAsyncInvokeConfigRequestBody(max_async_event_age_in_seconds=600, max_async_retry_attempts=2)))
        c.create_dependency_version(m.CreateDependencyVersionRequest(body=m.CreateDependencyRequestBody(
            depend_type="zip", depend_file=base64.b64encode(zip_bytes).decode(), runtime="Python3.9", name="persisted_dep")))
        print("created %s" % f.func_urn)
        return 0
    f = c.show_function_config(m.ShowFunctionConfigRequest(function_urn=urn_short))
    problems = []
    if f.digest != digest or f.memory_size != 256:
        problems.append("function config changed: digest=%s memory=%s" % (f.digest, f.memory_size))
    triggers = c.list_function_triggers(m.ListFunctionTriggersRequest(function_urn=f.func_urn)).body or []
    if [(t.trigger_type_code, t.trigger_status) for t in triggers] != [("TIMER", "DISABLED")]:
        problems.append("triggers: %r" % triggers)
    ac = c.show_function_async_invoke_config(m.ShowFunctionAsyncInvokeConfigRequest(function_urn=f.func_urn))
    if ac.max_async_event_age_in_seconds != 600 or ac.max_async_retry_attempts != 2:
        problems.append("async config: %r" % ac)
    deps = c.list_dependencies(m.ListDependenciesRequest()).dependencies or []
    if not any(d.name == "persisted_dep" and d.etag == hashlib.md5(zip_bytes).hexdigest() for d in deps):
        problems.append("dependency missing: %r" % deps)
    for p in problems:
        print("PERSISTENCE FAIL: " + p)
    if not problems:
        print("persistence ok: function, trigger, async config and dependency survived the restart")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
