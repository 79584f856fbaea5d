//! The error every handler returns, rendered as the API's one error body
//! ([`ApiErrorBody`]: `{error_code, error_msg[, request_id]}`).

use axum::http::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;

use crate::api::ApiErrorBody;

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

    /// The error body this answer carries.
    pub fn body(&self, request_id: &str) -> ApiErrorBody {
        ApiErrorBody {
            error_code: self.code.clone(),
            error_msg: self.msg.clone(),
            request_id: self.with_request_id.then(|| request_id.to_string()),
        }
    }

    /// The HTTP answer: status, JSON error body, `Retry-After` when set. The error code
    /// rides along as a response extension for the request log.
    pub fn response(&self, request_id: &str) -> Response {
        let json = serde_json::to_vec(&self.body(request_id)).expect("error bodies serialize");
        let mut resp = json_bytes(self.status, Some(json.into()));
        if let Some(secs) = self.retry_after {
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        resp.extensions_mut().insert(ErrorCode(self.code.clone()));
        resp
    }
}

/// The `error_code` of an error answer (a response extension the request log reads).
#[derive(Debug, Clone)]
pub struct ErrorCode(pub String);

/// A response with `status` and, when given, a JSON body.
pub fn json_bytes(status: u16, body: Option<Bytes>) -> Response {
    let has_body = body.is_some();
    let mut resp = Response::new(axum::body::Body::from(body.unwrap_or_default()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if has_body {
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    resp
}

/// A JSON response from any serializable value.
pub fn json_response(status: u16, body: &impl serde::Serialize) -> Response {
    json_bytes(status, Some(serde_json::to_vec(body).expect("values serialize").into()))
}

pub type Res<T> = Result<T, Fail>;
