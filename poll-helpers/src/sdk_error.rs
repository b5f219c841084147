//! From an SDK error to a [`FetchError`]: one classification for every generated client
//! (their `Error` is progenitor-client's, whatever the error body), so the engine knows
//! no API.

use std::time::Duration;

use crate::error::FetchError;

/// Classifies `error`; `message` and `retry_after` come from the SDK's `ErrorExt`.
#[cfg_attr(not(any(feature = "omni", feature = "retailgrid")), allow(dead_code))]
pub(crate) fn fetch_error<E>(
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
