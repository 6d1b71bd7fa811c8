//! What every handler shares: the store, the scheduler of loaded models, and the cache of
//! what each stored model can do.

use std::sync::Arc;

use wollama_store::Store;

use crate::sched::Scheduler;

pub(crate) struct AppState {
    pub store: Store,
    pub sched: Arc<Scheduler>,
    /// What each listed model can do, read once per manifest digest (`/api/tags`).
    pub capabilities: crate::model_capabilities::Cache,
}
