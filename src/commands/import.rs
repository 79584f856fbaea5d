//! `fgform import ADDR ID [DIR]`: record an existing live resource in state under an address
//! the manifests declare, under the state lock. Reads only: nothing changes live; the next
//! `plan` shows how the resource differs from the manifests.

use anyhow::Context as _;

use crate::apply::import::import;
use crate::cli::ImportArgs;
use crate::client::error::with_hint;
use crate::error::ExitStatus;
use crate::model::Address;
use crate::session::Session;

/// `fgform import`.
pub fn run(args: ImportArgs) -> anyhow::Result<ExitStatus> {
    let address: Address = args.address.parse()?;
    let Some(session) = Session::open(&args.target)? else {
        return Ok(ExitStatus::Error);
    };
    let desired = &session.desired;
    session.block_on(async {
        let lock = session.lock("import")?;
        let mut state = session.load_state()?;
        let connection = session.connect().await?;
        crate::outln!("{address}: importing from ID \"{}\"...", args.id);
        let result = import(&connection.client, desired, &state, &address, &args.id).await;
        connection.close().await;
        let records = result.map_err(|e| {
            // The commands it suggests (`state rm`, `state mv`) only touch the state.
            let hint = e.hint(&session.state_rerun_args());
            with_hint(e, hint).context(format!("cannot import `{}` as {address}", args.id))
        })?;
        for (address, record) in records {
            crate::outln!("{address}: import prepared (id {})", record.id);
            if let Some(owner) = record
                .private
                .get(crate::plan::import::IMPORTED_OWNER)
                .and_then(|v| v.as_str().map(crate::model::Owner::parse))
            {
                crate::outln!(
                    "note: {address} was tagged for {}; the next apply re-tags it for this state. Make sure that \
                     state no longer manages it (`fgform state rm {address}` against it), or both will.",
                    owner.describe()
                );
            }
            state.resources.insert(address.to_string(), record);
        }
        session
            .save(&mut state)
            .with_context(|| format!("cannot record {address} in state"))?;
        lock.release();
        crate::outln!(
            "\nImport successful!\n\nThe resources that were imported are shown above. They are now in the state \
             `{}` and managed by fgform.\nRun `fgform plan{}` to see how it differs from the manifests.",
            session.state_shown,
            session.rerun_args()
        );
        Ok(ExitStatus::Success)
    })
}
