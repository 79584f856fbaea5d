//! A remote backend's own tokio runtime (PostgreSQL, S3), usable from any thread: plain
//! threads, and threads already inside another runtime (where `block_on` would panic), whose
//! calls run on a scoped helper thread instead.

use std::future::Future;

/// A one-worker multi-thread runtime: its worker keeps driving connections (a lock's
/// connection, a lease's heartbeat requests) while nobody is inside `block_on`.
pub(crate) struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    /// A runtime whose worker thread is named `thread_name`.
    pub(crate) fn new(thread_name: &str) -> std::io::Result<Runtime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(thread_name)
            .enable_all()
            .build()?;
        Ok(Runtime(Some(runtime)))
    }

    /// Runs `future` to completion on this runtime and returns its output.
    pub(crate) fn block_on<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let runtime = self.0.as_ref().expect("the runtime lives until dropped");
        if tokio::runtime::Handle::try_current().is_ok() {
            std::thread::scope(|scope| {
                scope
                    .spawn(|| runtime.block_on(future))
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        } else {
            runtime.block_on(future)
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime; this does not.
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}
