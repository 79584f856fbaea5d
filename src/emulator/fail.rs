//! The error every handler returns, rendered as the API's `{error_code, error_msg}`.

/// An API error answer.
#[derive(Debug, Clone)]
pub struct Fail {
    pub status: u16,
    pub code: String,
    pub msg: String,
    /// Gateway and workflow errors also put the request id in the body.
    pub with_request_id: bool,
    pub retry_after: Option<u64>,
}

impl Fail {
    pub fn new(status: u16, code: &str, msg: impl Into<String>) -> Self {
        Fail {
            status,
            code: code.to_string(),
            msg: msg.into(),
            with_request_id: code.starts_with("APIGW"),
            retry_after: None,
        }
    }
    pub fn bad(code: &str, msg: impl Into<String>) -> Self {
        Fail::new(400, code, msg)
    }
    /// Generic invalid parameter.
    pub fn param(msg: impl Into<String>) -> Self {
        Fail::new(400, "FSS.0400", msg)
    }
    pub fn function_not_found() -> Self {
        Fail::new(404, "FSS.1051", "Not found the function")
    }
    pub fn version_not_found() -> Self {
        Fail::new(404, "FSS.1052", "Not found the function version")
    }
    pub fn with_request_id(mut self) -> Self {
        self.with_request_id = true;
        self
    }
}

pub type Res<T> = Result<T, Fail>;
