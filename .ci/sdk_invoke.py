#!/usr/bin/env python3
"""The official SDK runs functions on the fgform emulator (issue 13): InvokeFunction v0 and
v1 with Python and Node handlers, a raising handler, a timeout, a function over its max
instances, async invocations with both destinations, a workflow execution calling two
functions, a timer fired through the control plane and one through the virtual clock, and
the statistics the invocations leave.
Exit 0 = every step passed."""
import argparse
import base64
import io
import json
import sys
import threading
import time
import urllib.request
import zipfile

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions as sdk_exc
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkfunctiongraph.v2 import FunctionGraphClient
from huaweicloudsdkfunctiongraph.v2 import model as m

failures = []


def step(name, fn):
    try:
        fn()
        print("ok   %s" % name)
    except (AssertionError, sdk_exc.SdkException, OSError) as e:
        failures.append("%s: %s" % (name, e))
        print("FAIL %-50s -> %s" % (name, e))


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def zip_of(files):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)
    return base64.b64encode(buf.getvalue()).decode()


class Emulator:
    def __init__(self, a):
        cfg = HttpConfig.get_default_config()
        cfg.retry_times = 0
        cfg.timeout = (10, 60)
        self.endpoint = a.endpoint
        self.c = (FunctionGraphClient.new_builder().with_credentials(BasicCredentials(a.ak, a.sk, a.project_id))
                  .with_endpoints([a.endpoint]).with_http_config(cfg).build())

    def control(self, method, path):
        req = urllib.request.Request(self.endpoint + "/_emulator" + path, method=method,
                                     headers={"Content-Type": "application/json"}, data=b"{}" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def function(self, name, files, runtime="Python3.9", handler="index.handler", timeout=10):
        f = self.c.create_function(m.CreateFunctionRequest(body=m.CreateFunctionRequestBody(
            func_name=name, package="default", runtime=runtime, handler=handler, memory_size=128, timeout=timeout,
            code_type="zip", code_filename="index.zip", func_code=m.FuncCode(file=zip_of(files)),
            user_data=json.dumps({"GREETING": "hi"}))))
        return f.func_urn

    def invoke(self, urn, event, version="v1", tail=True):
        return self.c.invoke_function(m.InvokeFunctionRequest(
            function_urn=urn, x_cff_request_version=version, x_cff_log_type="tail" if tail else None, body=event))

    def logs(self, urn, want, timeout=20):
        base = ":".join(urn.split(":")[:7])
        deadline = time.time() + timeout
        while True:
            logs = self.control("GET", "/logs?function_urn=%s&limit=100" % urllib.request.quote(base, safe=""))["logs"]
            if len(logs) >= want or time.time() > deadline:
                return logs
            time.sleep(0.1)

    def async_status(self, urn, request_id, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = self.c.list_async_invocations(m.ListAsyncInvocationsRequest(function_urn=urn, request_id=request_id))
            if got.invocations and got.invocations[0].status in ("SUCCESS", "FAIL", "DISCARD"):
                return got.invocations[0]
            time.sleep(0.1)
        raise AssertionError("async invocation %s did not end" % request_id)


PY = """import json, os
def handler(event, context):
    print('hello', context.getFunctionName())
    if event.get('fail'):
        raise ValueError('asked to fail')
    if event.get('sleep'):
        import time; time.sleep(event['sleep'])
    return {'greeting': os.environ['GREETING'], 'name': context.getFunctionName(),
            'request_id': context.getRequestID(), 'event': event}
"""
V0 = "def handler(event, context):\n    return {'result': 'from v0', 'status': 7}\n"
NODE = "exports.handler = async (event, context) => ({ doubled: event.n * 2, name: context.getFunctionName() });\n"
EVENTS = "import json\ndef handler(event, context):\n    print('EVENT', json.dumps(event))\n    return 'ok'\n"


def sync_steps(e):
    urn = e.function("sdk_py", {"index.py": PY})

    def v1():
        r = e.invoke(urn, {"n": 1})
        out = json.loads(r.result)
        check(out["greeting"] == "hi" and out["name"] == "sdk_py" and out["event"] == {"n": 1}, "result %r" % out)
        check(r.status == 200, "status %r" % r.status)
        check(out["request_id"] == r.request_id == r.x_cff_request_id, "request ids %r %r" % (r.request_id, r.x_cff_request_id))
        log = base64.b64decode(r.log).decode()
        check("Start invoke request '%s'" % r.request_id in log and "hello sdk_py" in log, "log %r" % log)
    step("InvokeFunction v1 (Python): result, status, request id, log tail", v1)

    def v0():
        v0urn = e.function("sdk_v0", {"index.py": V0})
        r = e.invoke(v0urn, {}, version="v0", tail=False)
        check(r.result == "from v0" and r.status == 7, "v0 body is the handler's return value: %r %r" % (r.result, r.status))
    step("InvokeFunction v0 answers with the handler's return value", v0)

    def node():
        nurn = e.function("sdk_node", {"index.js": NODE}, runtime="Node.js18.15")
        out = json.loads(e.invoke(nurn, {"n": 21}).result)
        check(out == {"doubled": 42, "name": "sdk_node"}, "result %r" % out)
    step("InvokeFunction v1 (Node.js)", node)

    def raising():
        r = e.invoke(urn, {"fail": True})
        err = json.loads(r.result)
        check(err["errorType"] == "ValueError" and err["errorMessage"] == "asked to fail", "error %r" % err)
        check(any("index.py" in line for line in err["stackTrace"]), "stack %r" % err["stackTrace"])
    step("a raising handler: errorType, errorMessage, stackTrace", raising)

    def timeout():
        turn = e.function("sdk_timeout", {"index.py": PY}, timeout=3)
        started = time.time()
        err = json.loads(e.invoke(turn, {"sleep": 30}).result)
        check(err["errorType"] == "FunctionTimeout", "error %r" % err)
        check(time.time() - started < 15, "killed at its timeout")
    step("a handler past its timeout is killed and reported", timeout)

    def max_instances():
        murn = e.function("sdk_one", {"index.py": PY})
        e.c.update_function_max_instance_config(m.UpdateFunctionMaxInstanceConfigRequest(
            function_urn=murn, body=m.UpdateFunctionMaxInstanceConfigRequestBody(max_instance_num=1)))
        first = threading.Thread(target=lambda: e.invoke(murn, {"sleep": 2}))
        first.start()
        time.sleep(0.8)
        try:
            e.invoke(murn, {})
            raise AssertionError("a second concurrent invocation was not throttled")
        except sdk_exc.SdkException as x:
            check(x.status_code == 429 and x.error_code == "FSS.0429", "%s %s" % (x.status_code, x.error_code))
        finally:
            first.join()
    step("a function over its max instances: 429 FSS.0429", max_instances)
    return urn


def async_steps(e):
    sink = e.function("sdk_sink", {"index.py": EVENTS})
    urn = e.function("sdk_async", {"index.py": PY})
    e.c.update_function_async_invoke_config(m.UpdateFunctionAsyncInvokeConfigRequest(
        function_urn=urn, body=m.UpdateFunctionAsyncInvokeConfigRequestBody(
            max_async_retry_attempts=1,
            destination_config=m.FuncAsyncDestinationConfig(
                on_success=m.FuncDestinationConfig(destination="FunctionGraph", param=json.dumps({"func_urn": sink})),
                on_failure=m.FuncDestinationConfig(destination="OBS", param=json.dumps(
                    {"bucket": "dlq", "prefix": "f/", "expires": 1}))))))

    def success():
        rid = e.c.async_invoke_function(m.AsyncInvokeFunctionRequest(function_urn=urn, body={"n": 2})).request_id
        check(e.async_status(urn, rid).status == "SUCCESS", "status")
        logs = e.logs(sink, 1)
        sent = [json.loads(l[len("EVENT "):]) for x in logs for l in x["log"].splitlines() if l.startswith("EVENT ")]
        check(sent and sent[0]["request_context"]["request_id"] == rid, "the sink got %r" % sent)
        check(sent[0]["response_payload"]["event"] == {"n": 2}, "payload %r" % sent[0])
    step("AsyncInvokeFunction -> SUCCESS, on_success FunctionGraph destination invoked", success)

    def failure():
        rid = e.c.async_invoke_function(m.AsyncInvokeFunctionRequest(function_urn=urn, body={"fail": True})).request_id
        rec = e.async_status(urn, rid)
        check(rec.status == "FAIL" and "asked to fail" in rec.error_message, "record %r" % rec)
        kept = e.control("GET", "/destinations")["destinations"]
        mine = [d for d in kept if d["record"]["request_context"]["request_id"] == rid]
        check(mine and mine[0]["destination"] == "OBS", "destinations %r" % kept)
        check(mine[0]["record"]["request_context"]["approximate_invoke_count"] == 2, "retried once")
    step("a failing async invocation: retried, FAIL, on_failure (OBS) recorded", failure)


def timer_steps(e):
    urn = e.function("sdk_timer", {"index.py": EVENTS})
    t = e.c.create_function_trigger(m.CreateFunctionTriggerRequest(
        function_urn=urn, body=m.CreateFunctionTriggerRequestBody(
            trigger_type_code="TIMER", trigger_status="ACTIVE", event_type_code="MessageCreated",
            event_data={"name": "hourly", "schedule_type": "Rate", "schedule": "1h", "user_event": "tick"})))

    def fire():
        e.control("POST", "/triggers/%s/fire" % t.trigger_id)
        logs = e.logs(urn, 1)
        check(len(logs) == 1 and '"trigger_name": "hourly"' in logs[0]["log"], "logs %r" % logs)
    step("a timer fired through the control plane", fire)

    def clock():
        deadline = time.time() + 10
        while not any(x["trigger_id"] == t.trigger_id and x["last"] for x in e.control("GET", "/triggers")["triggers"]):
            check(time.time() < deadline, "the scheduler never saw the timer")
            time.sleep(0.1)
        e.control("POST", "/clock/advance?seconds=3601")
        logs = e.logs(urn, 2)
        check(len(logs) == 2 and '"user_event": "tick"' in logs[1]["log"], "logs %r" % logs)
    step("a timer fired by its schedule through the virtual clock", clock)


FIRST = "def handler(event, context):\n    return {'n': event['n'] + 1}\n"
SECOND = "def handler(event, context):\n    return {'doubled': event['x'] * 2}\n"


def workflow_steps(e):
    first = e.function("sdk_wf_first", {"index.py": FIRST})
    second = e.function("sdk_wf_second", {"index.py": SECOND})

    def run():
        wf = e.c.create_workflow(m.CreateWorkflowRequest(body=m.WorkflowCreateBody(
            name="sdk_flow", start="one", mode="NORMAL",
            functions=[m.Function(name="f1", operation=first), m.Function(name="f2", operation=second)],
            states=[m.OperationState(id="one", name="one", type="Operation", end=False, transition="two",
                                     actions=[m.Action(function_ref=m.FunctionRef(
                                         ref_name="f1", invoke_mode="sync", arguments={"n": "$.n"}))]),
                    m.OperationState(id="two", name="two", type="Operation", end=True, transition="",
                                     actions=[m.Action(function_ref=m.FunctionRef(
                                         ref_name="f2", invoke_mode="sync", arguments={"x": "$.n"}))])],
            constants={}, retries=[])))
        started = e.c.start_workflow_execution(m.StartWorkflowExecutionRequest(
            workflow_id=wf.id, body=m.FlowExecuteBody(input={"n": 4})))
        deadline = time.time() + 30
        while True:
            shown = e.c.show_workflow_execution(m.ShowWorkflowExecutionRequest(
                workflow_id=wf.id, execution_id=started.execution_id))
            if shown.status != "running" or time.time() > deadline:
                break
            time.sleep(0.1)
        check(shown.status == "success", "status %r" % shown.status)
        output = shown.output if isinstance(shown.output, dict) else json.loads(shown.output)
        check(output == {"doubled": 10}, "output %r" % shown.output)
        nodes = {n.node_id for n in shown.node_execution_details or []}
        check(nodes == {"one", "two"}, "node history %r" % nodes)
    step("a workflow execution calling two functions (StartWorkflowExecution, ShowWorkflowExecution)", run)


def main():
    ap = argparse.ArgumentParser()
    for flag in ("--endpoint", "--project-id", "--ak", "--sk"):
        ap.add_argument(flag, required=True)
    e = Emulator(ap.parse_args())
    urn = sync_steps(e)
    async_steps(e)
    workflow_steps(e)
    timer_steps(e)

    def statistics():
        s = e.c.list_function_statistics(m.ListFunctionStatisticsRequest(func_urn=urn, period="180"))
        check(sum(p.value for p in s.count) >= 2 and sum(p.value for p in s.fail_count) >= 1, "statistics %r" % s)
    # The timer steps moved the clock an hour on: the invocations are within the last 3 hours.
    step("ListFunctionStatistics counts the invocations and failures", statistics)
    if failures:
        print("\n%d step(s) failed:\n  %s" % (len(failures), "\n  ".join(failures)))
        return 1
    print("\nevery invoke step passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
