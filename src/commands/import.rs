//! `fgform import ADDR ID [DIR]`: record an existing live resource in state under an address
//! the manifests declare, under the state lock. Reads only: nothing changes live; the next
//! `plan` shows how the resource differs from the manifests.

use anyhow::Context as _;

use super::force_unlock::acquire;
use super::reconcile::{connect, load_desired, state_path};
use crate::apply::import::import;
use crate::cli::ImportArgs;
use crate::client::error::with_hint;
use crate::error::ExitStatus;
use crate::model::Address;
use crate::state;

/// `fgform import`.
pub fn run(args: ImportArgs) -> anyhow::Result<ExitStatus> {
    let address: Address = args.address.parse()?;
    let Some(desired) = load_desired(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let path = state_path(&args.target, &desired);
        let lock = acquire(&args.target, &path, "import")?;
        let mut state = super::reconcile::load_state(&path, &desired)?;
        let (client, embedded) = connect(&args.target, &desired, &path).await?;
        println!("{address}: importing from ID \"{}\"...", args.id);
        let result = import(&client, &desired, &state, &address, &args.id).await;
        if let Some(handle) = embedded {
            handle.shutdown().await;
        }
        let records = result.map_err(|e| {
            // The commands it suggests (`state rm`, `state mv`) only touch the state.
            let hint = e.hint(&super::reconcile::state_rerun_args(&args.target, &path));
            with_hint(e, hint).context(format!("cannot import `{}` as {address}", args.id))
        })?;
        for (address, record) in records {
            println!("{address}: import prepared (id {})", record.id);
            if let Some(owner) = record
                .private
                .get(crate::plan::import::IMPORTED_OWNER)
                .and_then(|v| v.as_str().map(crate::model::Owner::parse))
            {
                println!(
                    "note: {address} was tagged for {}; the next apply re-tags it for this state. Make sure that \
                     state no longer manages it (`fgform state rm {address}` against it), or both will.",
                    owner.describe()
                );
            }
            state.resources.insert(address.to_string(), record);
        }
        state::save(&path, &mut state).with_context(|| format!("cannot record {address} in state"))?;
        lock.release();
        println!(
            "\nImport successful!\n\nThe resources that were imported are shown above. They are now in the state \
             `{}` and managed by fgform.\nRun `fgform plan{}` to see how it differs from the manifests.",
            super::reconcile::display_path(&path),
            super::reconcile::rerun_args(&args.target, Some(&desired))
        );
        Ok(ExitStatus::Success)
    })
}
