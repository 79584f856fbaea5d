//! The API's limits, for the model's users: [`crate::api::limits`] is the one table, and
//! the rules over it are [`crate::api::rules`].

pub use crate::api::limits::*;
