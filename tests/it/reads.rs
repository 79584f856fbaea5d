//! The reads `plan` and `drift` send, pinned per operation on a small stack (docs/reads.md):
//! a regression that adds a request per function fails here, not in a benchmark.

use std::collections::BTreeMap;

use fgform::state;

use crate::context::{assert_exit, TestContext};

/// Three functions with a timer and an async config, and one with neither.
const STACK: &str = r#"
stack: reads
functions:
  a: &fn
    runtime: Python3.9
    handler: index.handler
    code: ./code
    async: { max_retries: 1 }
    triggers:
      tick: { timer: { rate: 5m } }
  b: *fn
  c: *fn
  plain:
    runtime: Python3.9
    handler: index.handler
    code: ./code
"#;

async fn applied() -> TestContext {
    let ctx = TestContext::setup()
        .files(&[
            ("stack.yaml", STACK),
            ("code/index.py", "def handler(event, context):\n    return 1\n"),
        ])
        .start()
        .await;
    ctx.apply().await;
    ctx
}

/// How many requests of each operation `fgform ARGS` sent, and its exit code.
async fn sent(ctx: &TestContext, args: &[&str]) -> (Option<i32>, BTreeMap<String, usize>) {
    let seen = ctx.emu.requests().len();
    let out = ctx.on_stack(args).await;
    let mut ops = BTreeMap::new();
    for entry in &ctx.emu.requests()[seen..] {
        *ops.entry(entry.operation.to_string()).or_default() += 1;
    }
    (out.status.code(), ops)
}

/// What a no-op plan of the stack reads (one list page, every function's triggers, the
/// three async configs: no tags, since the state recorded each function's id), plus `more`.
fn no_op_reads_and(more: &[(&str, usize)]) -> BTreeMap<String, usize> {
    let base = [
        ("ListFunctions", 1),
        ("ListFunctionTriggers", 4),
        ("ShowFunctionAsyncInvokeConfig", 3),
    ];
    base.iter().chain(more).map(|(op, n)| (op.to_string(), *n)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_no_op_plan_sends_one_list_page_and_the_per_function_reads_only() {
    let ctx = applied().await;
    let (code, ops) = sent(&ctx, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, Some(0));
    assert_eq!(ops, no_op_reads_and(&[]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_that_changes_a_function_first_confirms_whose_it_is() {
    let ctx = applied().await;
    ctx.edit(
        "stack.yaml",
        "  plain:\n    runtime: Python3.9",
        "  plain:\n    timeout: 9\n    runtime: Python3.9",
    );
    let (code, ops) = sent(&ctx, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, Some(2));
    // The no-op reads, and the tags of the one function the plan changes.
    assert_eq!(ops, no_op_reads_and(&[("ListFunctionTags", 1),]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_read_where_the_state_cannot_settle_ownership() {
    let ctx = applied().await;
    // A record from before function ids were kept (`a`), and one whose function was deleted
    // and made again under the same name by someone else (`b`).
    let mut st = ctx.state();
    for name in ["a", "b"] {
        let record = st.resources.get_mut(&format!("function.{name}")).unwrap();
        let mut private = record.private.to_map();
        let removed = private.remove(state::FUNC_ID);
        assert!(removed.is_some(), "apply recorded no function id for `{name}`");
        if name == "b" {
            private.insert(state::FUNC_ID.into(), "00000000-0000-4000-8000-000000000000".into());
        }
        record.private = state::Attributes::from_map(&private);
    }
    state::save(&ctx.state_path, &mut st).unwrap();
    // A function the manifests name for the first time.
    ctx.edit("stack.yaml", "  plain:", "  d: *fn\n  plain:");
    let (code, ops) = sent(&ctx, &["plan", "--detailed-exitcode"]).await;
    assert_eq!(code, Some(2), "`d` is to be created");
    assert_eq!(
        ops,
        no_op_reads_and(&[
            // `a` and `b`; `d` does not exist, so it has nothing to read.
            ("ListFunctionTags", 2),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_reads_tags_only_for_functions_no_state_records() {
    let ctx = applied().await;
    ctx.create_function("by-hand", None).await;
    let (code, ops) = sent(&ctx, &["drift"]).await;
    assert_eq!(code, Some(2), "the unmanaged function is drift");
    assert_eq!(
        ops,
        no_op_reads_and(&[("ListFunctionTags", 1), ("ListDependencies", 1), ("ListWorkflow", 1),])
    );
    assert_exit(&ctx.on_stack(&["plan", "--detailed-exitcode"]).await, 0);
}
