//! The backend's own tokio runtime, usable from any thread: plain threads, and threads
//! already inside another runtime (where `block_on` would panic), whose calls run on a
//! scoped helper thread instead.

use std::future::Future;
use std::sync::Arc;

/// A one-worker multi-thread runtime: its worker keeps driving the connections (the lock
/// connection included) while nobody is inside `block_on`.
pub(super) struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    pub(super) fn new() -> std::io::Result<Arc<Runtime>> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fgform-postgres")
            .enable_all()
            .build()?;
        Ok(Arc::new(Runtime(Some(runtime))))
    }

    /// Runs `future` to completion on this runtime and returns its output.
    pub(super) fn block_on<F>(&self, future: F) -> F::Output
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
