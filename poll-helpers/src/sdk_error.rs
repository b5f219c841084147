//! From an SDK error to a [`FetchError`]: one classification for every generated client
//! (their `Error` is progenitor-client's, whatever the error body), so the engine knows
//! no API.

use std::time::Duration;

use crate::error::FetchError;

/// Classifies `error`; `message` and `retry_after` come from the SDK's `ErrorExt`; the
/// server's request id is kept (and quoted in the message).
pub(crate) fn fetch_error<E>(
    error: &progenitor_client::Error<E>,
    message: String,
    retry_after: Option<Duration>,
) -> FetchError {
    use progenitor_client::Error;
    let request_id = match error {
        Error::ErrorResponse(rv) => sdk_runtime::request_id(rv.headers()),
        Error::UnexpectedResponse(response) => sdk_runtime::request_id(response.headers()),
        _ => None,
    };
    let error = classify(error, message, retry_after);
    error.with_request_id(request_id)
}

fn classify<E>(
    error: &progenitor_client::Error<E>,
    message: String,
    retry_after: Option<Duration>,
) -> FetchError {
    use progenitor_client::Error;
    match error {
        Error::ErrorResponse(rv) => {
            FetchError::from_status(rv.status().as_u16(), message).with_retry_after(retry_after)
        }
        Error::UnexpectedResponse(response) if !response.status().is_success() => {
            FetchError::from_status(response.status().as_u16(), message)
                .with_retry_after(retry_after)
        }
        // A success status the spec does not declare, a connection/timeout error, a body
        // that is not the JSON we expect: the next poll may well go through.
        Error::UnexpectedResponse(_)
        | Error::CommunicationError(_)
        | Error::ResponseBodyError(_)
        | Error::InvalidResponsePayload(..)
        | Error::InvalidUpgrade(_) => FetchError::transient(message),
        Error::InvalidRequest(_) | Error::Custom(_) => FetchError::permanent(message),
    }
}

impl FetchError {
    /// Classifies an error of any client generated in this workspace (every one decodes
    /// errors into `sdk_runtime::ApiError`): 429/5xx and transport errors are transient,
    /// other 4xx permanent, with the server's message, `Retry-After` and request id kept
    /// (the id is also quoted at the end of the message). This is
    /// what a fetch closure for [`Poller::new`](crate::Poller::new) returns on error, so
    /// that a crate made by `cargo xtask add-sdk` can be waited on without an adapter.
    ///
    /// ```
    /// use poll_helpers::{FetchError, FetchErrorKind};
    /// let e: progenitor_client::Error<sdk_runtime::ApiError> =
    ///     progenitor_client::Error::InvalidRequest("missing job_id".into());
    /// let classified = FetchError::from_sdk_error(&e);
    /// assert_eq!(classified.kind, FetchErrorKind::Permanent);
    /// assert!(classified.message.contains("missing job_id"));
    /// ```
    pub fn from_sdk_error(error: &progenitor_client::Error<sdk_runtime::ApiError>) -> FetchError {
        use sdk_runtime::ErrorExt;
        fetch_error(error, error.message(), error.retry_after())
    }
}
