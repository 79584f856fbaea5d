#!/usr/bin/env python3
"""Beyond the shared smoke flow: the official SDK drives every other route family the
emulator serves (code, max instances, versions, aliases, async config per qualifier,
trigger show/update/delete-all, dependency versions in use, tags, quotas, workflow
show/update) and checks what comes back after the SDK deserialized it.
Exit 0 = every step passed."""
import argparse
import base64
import hashlib
import io
import json
import sys
import zipfile

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions as sdk_exc
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkfunctiongraph.v2 import FunctionGraphClient
from huaweicloudsdkfunctiongraph.v2 import model as m

failures = []


def zip_of(text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", text)
    return buf.getvalue()


def step(name, fn, expect_status=None, expect_code=None):
    try:
        out = fn()
    except sdk_exc.SdkException as e:
        status = getattr(e, "status_code", None)
        code = getattr(e, "error_code", None)
        if expect_status is not None and status == expect_status and (expect_code is None or code == expect_code):
            print("ok   %-45s -> %s %s (as expected)" % (name, status, code))
            return None
        failures.append("%s: %s %s %s" % (name, status, code, getattr(e, "error_msg", e)))
        print("FAIL %-45s -> %s %s %s" % (name, status, code, getattr(e, "error_msg", e)))
        return None
    except AssertionError as e:
        failures.append("%s: %s" % (name, e))
        print("FAIL %-45s -> %s" % (name, e))
        return None
    if expect_status is not None:
        failures.append("%s: expected HTTP %s %s, got success" % (name, expect_status, expect_code))
        print("FAIL %-45s -> expected an error" % name)
        return None
    print("ok   %s" % name)
    return out


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--project-id", required=True)
    ap.add_argument("--ak", required=True)
    ap.add_argument("--sk", required=True)
    a = ap.parse_args()
    cfg = HttpConfig.get_default_config()
    cfg.retry_times = 0
    c = (FunctionGraphClient.new_builder().with_credentials(BasicCredentials(a.ak, a.sk, a.project_id))
         .with_endpoints([a.endpoint]).with_http_config(cfg).build())
    v1 = zip_of("def handler(e, c):\n    return 1\n")
    v2 = zip_of("def handler(e, c):\n    return 2\n")
    name = "ext_fn"
    dep_zip = zip_of("VALUE = 1\n")

    dep = step("create dependency version", lambda: c.create_dependency_version(m.CreateDependencyVersionRequest(
        body=m.CreateDependencyRequestBody(depend_type="zip", depend_file=base64.b64encode(dep_zip).decode(),
                                           runtime="Python3.9", name="ext_dep"))))
    f = step("create function using the dependency", lambda: c.create_function(m.CreateFunctionRequest(
        body=m.CreateFunctionRequestBody(func_name=name, package="default", runtime="Python3.9", handler="index.handler",
                                         memory_size=256, timeout=30, code_type="zip", code_filename="index.zip",
                                         func_code=m.FuncCode(file=base64.b64encode(v1).decode()),
                                         depend_version_list=[dep.id] if dep else None,
                                         encrypted_user_data=json.dumps({"PASSWORD": "hunter2"})))))
    if f is None:
        print("cannot continue without the function")
        return 1
    urn = f.func_urn
    base = ":".join(urn.split(":")[:7])

    def chk_cfg():
        x = c.show_function_config(m.ShowFunctionConfigRequest(function_urn=urn))
        check("hunter2" not in (x.encrypted_user_data or ""), "encrypted_user_data leaked: %r" % x.encrypted_user_data)
        check(dep is None or [d.id for d in (x.dependencies or [])] == [dep.id], "dependencies %r" % x.dependencies)
        check(x.cpu == 400, "cpu %r" % x.cpu)
    step("show config: secrets masked, dependencies listed", chk_cfg)
    if dep:
        step("delete dependency version in use -> 412 FSS.1033", lambda: c.delete_dependency_version(
            m.DeleteDependencyVersionRequest(depend_id=dep.dep_id, version=str(dep.version))), 412, "FSS.1033")
        step("show dependency version", lambda: check(c.show_dependency_version(m.ShowDependencyVersionRequest(
            depend_id=dep.dep_id, version=str(dep.version))).etag == hashlib.md5(dep_zip).hexdigest(), "etag"))
        step("list dependency versions", lambda: check(len(c.list_dependency_version(
            m.ListDependencyVersionRequest(depend_id=dep.dep_id)).dependencies) == 1, "one version"))

    def upd_code():
        x = c.update_function_code(m.UpdateFunctionCodeRequest(function_urn=urn, body=m.UpdateFunctionCodeRequestBody(
            code_type="zip", code_filename="index.zip", func_code=m.FuncCode(file=base64.b64encode(v2).decode()))))
        check(x.digest == hashlib.sha512(v2).hexdigest(), "digest after code update")
        y = c.show_function_code(m.ShowFunctionCodeRequest(function_urn=urn))
        check(y.code_size == len(v2) and not (y.func_code.file if y.func_code else ""), "show code")
    step("update code -> new digest; show code has no bytes", upd_code)
    step("max instances 50", lambda: check(c.update_function_max_instance_config(
        m.UpdateFunctionMaxInstanceConfigRequest(function_urn=urn, body=m.UpdateFunctionMaxInstanceConfigRequestBody(
            max_instance_num=50))).strategy_config.concurrency == 50, "concurrency"))
    step("publish v1", lambda: check(c.create_function_version(m.CreateFunctionVersionRequest(
        function_urn=urn, body=m.CreateFunctionVersionRequestBody(version="v1", description="first"))).version == "v1", "v1"))
    step("publish again unchanged -> 400 FSS.1016", lambda: c.create_function_version(m.CreateFunctionVersionRequest(
        function_urn=urn, body=m.CreateFunctionVersionRequestBody(version="v2"))), 400, "FSS.1016")
    step("list versions (latest + v1)", lambda: check([v.version for v in c.list_function_versions(
        m.ListFunctionVersionsRequest(function_urn=urn)).versions] == ["latest", "v1"], "versions"))
    step("latest as an alias's additional version -> 400 FSS.1091", lambda: c.create_version_alias(
        m.CreateVersionAliasRequest(function_urn=urn, body=m.CreateVersionAliasRequestBody(
            name="bad", version="v1", additional_version_weights={"latest": 10}))), 400, "FSS.1091")
    step("create alias prod -> latest with 10% on v1", lambda: check(c.create_version_alias(m.CreateVersionAliasRequest(
        function_urn=urn, body=m.CreateVersionAliasRequestBody(name="prod", version="latest",
                                                               additional_version_weights={"v1": 10}))
    ).alias_urn.endswith(":!prod"), "alias urn"))
    step("show alias", lambda: check(c.show_version_alias(m.ShowVersionAliasRequest(
        function_urn=urn, alias_name="prod")).additional_version_weights == {"v1": 10}, "weights"))
    step("update alias", lambda: check(c.update_version_alias(m.UpdateVersionAliasRequest(
        function_urn=urn, alias_name="prod", body=m.UpdateVersionAliasRequestBody(version="v1", description="d"))
    ).description == "d", "description"))
    step("list aliases (bare array)", lambda: check([x.name for x in c.list_version_aliases(
        m.ListVersionAliasesRequest(function_urn=urn)).body] == ["prod"], "aliases"))
    step("read config through the alias", lambda: check(c.show_function_config(m.ShowFunctionConfigRequest(
        function_urn=base + ":!prod")).digest == hashlib.sha512(v2).hexdigest(), "alias digest"))
    step("async config on latest", lambda: check(c.update_function_async_invoke_config(
        m.UpdateFunctionAsyncInvokeConfigRequest(function_urn=urn, body=m.UpdateFunctionAsyncInvokeConfigRequestBody(
            max_async_event_age_in_seconds=300, max_async_retry_attempts=1,
            destination_config=m.FuncAsyncDestinationConfig(on_failure=m.FuncDestinationConfig(
                destination="FunctionGraph", param=json.dumps({"func_urn": urn}))))))
        .max_async_retry_attempts == 1, "retries"))
    step("async config on v1", lambda: c.update_function_async_invoke_config(m.UpdateFunctionAsyncInvokeConfigRequest(
        function_urn=base + ":v1", body=m.UpdateFunctionAsyncInvokeConfigRequestBody(max_async_event_age_in_seconds=60))))
    step("list async configs (2)", lambda: check(c.list_function_async_invoke_config(
        m.ListFunctionAsyncInvokeConfigRequest(function_urn=urn)).count == 2, "count"))
    step("delete async config on v1", lambda: c.delete_function_async_invoke_config(
        m.DeleteFunctionAsyncInvokeConfigRequest(function_urn=base + ":v1")))
    step("show deleted async config -> 404", lambda: c.show_function_async_invoke_config(
        m.ShowFunctionAsyncInvokeConfigRequest(function_urn=base + ":v1")), 404)

    t = step("create cron timer", lambda: c.create_function_trigger(m.CreateFunctionTriggerRequest(
        function_urn=urn, body=m.CreateFunctionTriggerRequestBody(trigger_type_code="TIMER", trigger_status="ACTIVE",
            event_data=m.TriggerEventDataRequestBody(name="cron1", schedule_type="Cron", schedule="0 30 2 * * ?")))))
    step("duplicate timer name -> 409 FSS.1148", lambda: c.create_function_trigger(m.CreateFunctionTriggerRequest(
        function_urn=urn, body=m.CreateFunctionTriggerRequestBody(trigger_type_code="TIMER", trigger_status="ACTIVE",
            event_data=m.TriggerEventDataRequestBody(name="cron1", schedule_type="Rate", schedule="5m")))), 409, "FSS.1148")
    step("bad rate -> 400 FSS.1109", lambda: c.create_function_trigger(m.CreateFunctionTriggerRequest(
        function_urn=urn, body=m.CreateFunctionTriggerRequestBody(trigger_type_code="TIMER", trigger_status="ACTIVE",
            event_data=m.TriggerEventDataRequestBody(name="bad", schedule_type="Rate", schedule="61m")))), 400, "FSS.1109")
    if t:
        step("disable the timer in place (SDK's array body)", lambda: check(c.update_trigger(m.UpdateTriggerRequest(
            function_urn=urn, trigger_type_code="TIMER", trigger_id=t.trigger_id,
            body=m.UpdateTriggerRequestBody(trigger_status="DISABLED"))).trigger_status == "DISABLED", "status"))
        step("show trigger", lambda: check(c.show_function_trigger(m.ShowFunctionTriggerRequest(
            function_urn=urn, trigger_type_code="TIMER", trigger_id=t.trigger_id)).event_data.name == "cron1", "name"))
    step("delete all triggers", lambda: c.batch_delete_function_triggers(m.BatchDeleteFunctionTriggersRequest(function_urn=urn)))
    step("no triggers left", lambda: check(c.list_function_triggers(m.ListFunctionTriggersRequest(
        function_urn=urn)).body in ([], None), "triggers"))

    step("tag the function", lambda: c.create_tags(m.CreateTagsRequest(resource_type="functions", resource_id=urn,
        body=m.UpdateFunctionTagsRequestBody(action="create", tags=[m.KvItem(key="fgform:stack", value="ext")]))))
    step("list tags", lambda: check([(x.key, x.value) for x in c.list_function_tags(m.ListFunctionTagsRequest(
        resource_type="functions", resource_id=urn)).tags] == [("fgform:stack", "ext")], "tags"))
    step("untag", lambda: c.delete_tags(m.DeleteTagsRequest(resource_type="functions", resource_id=urn,
        body=m.UpdateFunctionTagsRequestBody(action="delete", tags=[m.KvItem(key="fgform:stack", value="ext")]))))
    step("quotas", lambda: check(any(r.type == "fgs_func_num" and r.used >= 1 for r in c.list_quotas(
        m.ListQuotasRequest()).quotas.resources), "fgs_func_num used"))

    wf = step("create workflow", lambda: c.create_workflow(m.CreateWorkflowRequest(body=m.WorkflowCreateBody(
        name="ext_flow", start="s1", mode="NORMAL", functions=[m.Function(name="fn", operation=urn)],
        states=[m.OperationState(id="s1", name="s1", type="Operation", end=False, transition="done",
                                 actions=[m.Action(function_ref=m.FunctionRef(ref_name="fn", invoke_mode="sync"))]),
                m.OperationState(id="done", name="done", type="End", end=True, transition="", actions=[])],
        constants={}, retries=[]))))
    if wf:
        step("bad transition -> 400", lambda: c.update_work_flow(m.UpdateWorkFlowRequest(workflow_id=wf.id,
            body=m.WorkflowCreateBody(name="ext_flow", start="s1", functions=[], constants={}, retries=[],
                states=[m.OperationState(id="s1", name="s1", type="Operation", end=False, transition="nowhere")]))), 400)
        step("show workflow", lambda: check(c.show_work_flow(m.ShowWorkFlowRequest(workflow_id=wf.id))
                                            .definition.start == "s1", "definition"))
        step("delete workflow", lambda: c.batch_delete_workflows(m.BatchDeleteWorkflowsRequest(
            body=m.WorkflowDeleteBody(workflow_urns=[wf.workflow_urn]))))
    step("delete alias", lambda: c.delete_version_alias(m.DeleteVersionAliasRequest(function_urn=urn, alias_name="prod")))
    step("delete function", lambda: c.delete_function(m.DeleteFunctionRequest(function_urn=base)))
    if dep:
        step("delete dependency version now unused", lambda: c.delete_dependency_version(
            m.DeleteDependencyVersionRequest(depend_id=dep.dep_id, version=str(dep.version))))
    print()
    if failures:
        print("FAILED %d step(s):" % len(failures))
        for f in failures:
            print("  - " + f)
        return 1
    print("ALL EXTENDED STEPS PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
