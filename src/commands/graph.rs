//! `fgform graph [DIR] [--format dot|mermaid] [--plan]`: the stack's resources and what
//! each refers to, from the manifests alone (no API call), or with `--plan` refreshed and
//! planned as `fgform plan` does, each resource marked with its planned action. Exit 0, 1
//! on error (a plan with resources that are not this state's prints the graph, then fails
//! as `plan` does).

use crate::cli::{GraphArgs, GraphFormat};
use crate::error::ExitStatus;
use crate::ops::reconcile::plan_stack;
use crate::ops::rerun::refuse_blocked;
use crate::plan::graph::{self, Graph};
use crate::session::{load_stack, Session};

/// `fgform graph`.
pub fn run(args: GraphArgs) -> anyhow::Result<ExitStatus> {
    if !args.plan {
        return match load_stack(&args.target.stack, false)? {
            Ok(desired) => {
                print(&graph::from_manifests(&desired), args.format);
                Ok(ExitStatus::Success)
            }
            Err(rendered) => {
                eprint!("{rendered}");
                Ok(ExitStatus::Error)
            }
        };
    }
    let Some(session) = Session::open(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    session.block_on(async {
        let planned = plan_stack(&session, false).await?;
        let desired = &session.desired;
        print(&graph::from_plan(desired, &planned.state, &planned.plan), args.format);
        refuse_blocked(&planned.plan, &args.target, desired, &session.state_shown)?;
        Ok(ExitStatus::Success)
    })
}

fn print(graph: &Graph, format: GraphFormat) {
    let text = match format {
        GraphFormat::Dot => graph::dot(graph),
        GraphFormat::Mermaid => graph::mermaid(graph),
    };
    crate::out!("{text}");
}
