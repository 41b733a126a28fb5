//! One module per command: each does its work and returns one typed result, which
//! [`crate::output`] renders as text or JSON.

pub(crate) mod call;
pub(crate) mod dispatch;
pub(crate) mod inspect;
pub(crate) mod install;
pub(crate) mod list;
pub(crate) mod pack;
pub(crate) mod resolve;
pub(crate) mod uninstall;
pub(crate) mod validate;
