//! The local FunctionGraph API (in progress).
