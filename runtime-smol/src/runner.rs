//! Starting a driver on its [`TaskRunner`].

use std::future::Future;
use std::io;
use std::sync::Arc;

use async_executor::Executor;

use crate::options::TaskRunner;

/// Runs the driver made by `make` (given the executor its connection tasks
/// go to) on `runner`: a new thread named `name` running an executor of its
/// own until the driver returns, or a task on the caller's executor.
pub(crate) fn launch<F>(
    runner: &TaskRunner,
    name: &str,
    make: impl FnOnce(Arc<Executor<'static>>) -> F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    match runner {
        TaskRunner::DedicatedThread => {
            let executor = Arc::new(Executor::new());
            let driver = make(Arc::clone(&executor));
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || async_io::block_on(executor.run(driver)))?;
        }
        TaskRunner::Executor(executor) => {
            executor.spawn(make(Arc::clone(executor))).detach();
        }
    }
    Ok(())
}
