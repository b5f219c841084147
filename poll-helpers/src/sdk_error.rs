//! From an SDK error to a [`FetchError`]: one classification for both SDKs (their `Error`
//! is progenitor-client's, with different error bodies).

use std::time::Duration;

use crate::error::FetchError;

/// Classifies `error`; `message` and `retry_after` come from the SDK's `ErrorExt`.
pub(crate) fn fetch_error<E>(
    error: &omni_sdk::Error<E>,
    message: String,
    retry_after: Option<Duration>,
) -> FetchError {
    use omni_sdk::Error;
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
