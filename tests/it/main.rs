//! wasmod's integration tests: one test binary (fast to link), one module per concern.

mod embedder;
mod fixtures;
mod host;
mod hostile;
mod pack;
mod runtime;
mod validate;
mod warm;
