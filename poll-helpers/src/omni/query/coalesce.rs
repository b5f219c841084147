//! Long polls shared by every query wait of one credential.
//!
//! A wait that needs a poll joins the next `/v1/query/wait` request of its credential
//! ([`omni_sdk::Client::credential_key`]): the first one to arrive starts a driver task
//! that waits [`GATHER`] for others, then sends one request carrying every pending job id
//! (several requests when the URL would exceed [`MAX_URL_BYTES`]), hands each job's report
//! to every wait that asked for it as its line arrives, and answers a wait as soon as
//! all its jobs are reported, or with whatever was reported when the answer ended. Waits
//! that arrive while a request is out join the next one. Each request draws once from
//! the credential's shared budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures_util::future::join_all;
use omni_sdk::types::WaitForQueryResponse;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::lock;
use super::wire::{
    JobIdsForm, WaitFailure, error_answer, finished_jobs, other_form, read_objects, send_raw,
    wait_request,
};
use crate::error::FetchError;
use crate::omni::{long_poll_timeout, shared_budget};
use crate::sdk_error::fetch_error;

/// How long a driver waits for other waits to join before sending (waits answered by one
/// request come back together, so they rejoin within this).
const GATHER: Duration = Duration::from_millis(25);

/// The longest URL one request is given.
pub(crate) const MAX_URL_BYTES: usize = 8_000;

/// What a wait gets: the jobs of its own that finished.
type Answer = Result<Vec<(Uuid, WaitForQueryResponse)>, FetchError>;

struct Waiter {
    ids: Vec<Uuid>,
    got: Vec<(Uuid, WaitForQueryResponse)>,
    error: Option<FetchError>,
    tx: Option<oneshot::Sender<Answer>>,
}

impl Waiter {
    fn answer(&mut self) {
        if let Some(tx) = self.tx.take() {
            let answer = match (self.got.is_empty(), self.error.take()) {
                (true, Some(error)) => Err(error),
                _ => Ok(std::mem::take(&mut self.got)),
            };
            // The wait may be gone (dropped): nothing to do then.
            let _ = tx.send(answer);
        }
    }

    fn complete(&self) -> bool {
        self.ids
            .iter()
            .all(|id| self.got.iter().any(|(got, _)| got == id))
    }
}

struct State {
    queued: Vec<Waiter>,
    /// The driver running, if any (a number that changes with each driver).
    driver: Option<u64>,
    drivers_started: u64,
    form: JobIdsForm,
}

type Hub = Arc<Mutex<State>>;

fn hub(client: &omni_sdk::Client) -> Hub {
    static HUBS: OnceLock<Mutex<HashMap<u64, Hub>>> = OnceLock::new();
    let hubs = HUBS.get_or_init(Default::default);
    Arc::clone(
        lock(hubs)
            .entry(client.credential_key())
            .or_insert_with(|| {
                Arc::new(Mutex::new(State {
                    queued: Vec::new(),
                    driver: None,
                    drivers_started: 0,
                    form: JobIdsForm::JsonArray,
                }))
            }),
    )
}

/// One long poll for `ids`, shared with the other waits of the credential: the jobs among
/// `ids` that the answer reported finished (possibly none).
pub(crate) async fn long_poll(
    client: &omni_sdk::Client,
    ids: &[Uuid],
) -> Result<Vec<(Uuid, WaitForQueryResponse)>, FetchError> {
    let hub = hub(client);
    let (tx, rx) = oneshot::channel();
    let start = {
        let mut state = lock(&hub);
        state.queued.push(Waiter {
            ids: ids.to_vec(),
            got: Vec::new(),
            error: None,
            tx: Some(tx),
        });
        match state.driver {
            Some(_) => None,
            None => {
                state.drivers_started += 1;
                state.driver = Some(state.drivers_started);
                state.driver
            }
        }
    };
    if let Some(driver) = start {
        tokio::spawn(drive(client.clone(), hub, driver));
    }
    rx.await.map_err(|_| {
        FetchError::transient("the shared query long poll ended without answering this wait")
    })?
}

/// Ends a driver: whether it returns or is dropped (its runtime shut down), the next
/// wait starts another, and the queued waits are let go (their poll fails as transient and
/// is asked again).
struct Driving(Hub, u64);

impl Drop for Driving {
    fn drop(&mut self) {
        let mut state = lock(&self.0);
        if state.driver == Some(self.1) {
            state.driver = None;
            state.queued.clear();
        }
    }
}

async fn drive(client: omni_sdk::Client, hub: Hub, driver: u64) {
    let _driving = Driving(Arc::clone(&hub), driver);
    loop {
        tokio::time::sleep(GATHER).await;
        let waiters = {
            let mut state = lock(&hub);
            if state.queued.is_empty() {
                state.driver = None;
                return;
            }
            std::mem::take(&mut state.queued)
        };
        let waiters = Arc::new(Mutex::new(waiters));
        let batches = batches(&client, &lock(&waiters));
        join_all(
            batches
                .into_iter()
                .map(|ids| poll_batch(&client, &hub, &waiters, ids)),
        )
        .await;
        for waiter in lock(&waiters).iter_mut() {
            waiter.answer();
        }
    }
}

/// The distinct asked ids, in arrival order, cut so that no URL exceeds [`MAX_URL_BYTES`]
/// (an id takes at most 45 bytes encoded, in either form).
fn batches(client: &omni_sdk::Client, waiters: &[Waiter]) -> Vec<Vec<Uuid>> {
    use omni_sdk::ClientInfo;
    const PER_ID: usize = 45;
    // The path, the parameter name, and room for a credential sent in the query.
    let fixed = client.baseurl().len() + "/v1/query/wait?job_ids=%5B%5D".len() + 512;
    let per_batch = (MAX_URL_BYTES.saturating_sub(fixed) / PER_ID).max(1);
    let mut ids: Vec<Uuid> = Vec::new();
    for waiter in waiters {
        for id in &waiter.ids {
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
    }
    ids.chunks(per_batch).map(<[Uuid]>::to_vec).collect()
}

/// One request for `ids` (asked again in the other form of the job-id parameter when the
/// server asks for it; split per wait after a 404, so that one wait's unknown job does
/// not fail the others).
async fn poll_batch(
    client: &omni_sdk::Client,
    hub: &Hub,
    waiters: &Mutex<Vec<Waiter>>,
    ids: Vec<Uuid>,
) {
    let mut switched = false;
    loop {
        let form = lock(hub).form;
        let outcome = request(client, &ids, form, waiters).await;
        match outcome {
            Ok(()) => return,
            Err(WaitFailure::OtherForm(other, _)) if !switched => {
                tracing::info!(
                    ?other,
                    "the Omni server asks for the other form of the query wait's job ids; using it from now on"
                );
                lock(hub).form = other;
                switched = true;
            }
            Err(WaitFailure::OtherForm(_, error) | WaitFailure::Fetch(error)) => {
                let split = error.status == Some(404) && asked_by_several(waiters, &ids);
                if split {
                    per_waiter(client, hub, waiters, &ids).await;
                } else {
                    fail(waiters, &ids, &error);
                }
                return;
            }
        }
    }
}

fn asked_by_several(waiters: &Mutex<Vec<Waiter>>, ids: &[Uuid]) -> bool {
    lock(waiters)
        .iter()
        .filter(|w| w.ids.iter().any(|id| ids.contains(id)))
        .count()
        > 1
}

/// After a 404 on a shared request: each wait's jobs of `ids` asked alone.
async fn per_waiter(
    client: &omni_sdk::Client,
    hub: &Hub,
    waiters: &Mutex<Vec<Waiter>>,
    ids: &[Uuid],
) {
    let groups: Vec<Vec<Uuid>> = lock(waiters)
        .iter()
        .map(|w| {
            w.ids
                .iter()
                .filter(|id| ids.contains(id))
                .copied()
                .collect()
        })
        .filter(|g: &Vec<Uuid>| !g.is_empty())
        .collect();
    for group in groups {
        let form = lock(hub).form;
        if let Err(WaitFailure::OtherForm(_, error) | WaitFailure::Fetch(error)) =
            request(client, &group, form, waiters).await
        {
            fail_exactly(waiters, &group, &error);
        }
    }
}

/// Gives `error` to every wait that asked for one of `ids`.
fn fail(waiters: &Mutex<Vec<Waiter>>, ids: &[Uuid], error: &FetchError) {
    for waiter in lock(waiters).iter_mut() {
        if waiter.ids.iter().any(|id| ids.contains(id)) && waiter.error.is_none() {
            waiter.error = Some(error.clone());
        }
    }
}

/// Gives `error` to the waits whose jobs among the failed request's are exactly `group`.
fn fail_exactly(waiters: &Mutex<Vec<Waiter>>, group: &[Uuid], error: &FetchError) {
    for waiter in lock(waiters).iter_mut() {
        let own: Vec<&Uuid> = waiter.ids.iter().filter(|id| group.contains(id)).collect();
        if own.len() == group.len() && waiter.error.is_none() {
            waiter.error = Some(error.clone());
        }
    }
}

/// Sends one `query/wait` and hands each finished job to the waits that asked for it.
async fn request(
    client: &omni_sdk::Client,
    ids: &[Uuid],
    form: JobIdsForm,
    waiters: &Mutex<Vec<Waiter>>,
) -> Result<(), WaitFailure> {
    let (request, operation) = wait_request(client, ids, form).map_err(WaitFailure::Fetch)?;
    let budget = shared_budget(client);
    budget.acquire().await;
    let response = send_raw(client, request, operation, long_poll_timeout())
        .await
        .map_err(WaitFailure::Fetch)?;
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let e = error_answer(response).await;
        let error = query_wait_error(&e, ids);
        if error.status == Some(429)
            && let Some(wait) = error.retry_after
        {
            budget.cool_down(wait);
        }
        return Err(match other_form(form, &error) {
            Some(other) => WaitFailure::OtherForm(other, error),
            None => WaitFailure::Fetch(error),
        });
    }
    let mut each = |object: serde_json::Map<String, serde_json::Value>| {
        let finished = finished_jobs(&object, ids);
        if finished.is_empty() {
            return;
        }
        for waiter in lock(waiters).iter_mut() {
            for (id, response) in &finished {
                if waiter.ids.contains(id) && !waiter.got.iter().any(|(got, _)| got == id) {
                    waiter.got.push((*id, response.clone()));
                }
            }
            // As soon as a wait has all its jobs, it need not wait for the answer's end.
            if waiter.complete() {
                waiter.answer();
            }
        }
    };
    read_objects(response, long_poll_timeout(), "query wait", &mut each)
        .await
        .map_err(WaitFailure::Fetch)
}

fn query_wait_error(e: &omni_sdk::Error<sdk_runtime::ApiError>, asked: &[Uuid]) -> FetchError {
    use omni_sdk::ErrorExt;
    let error = fetch_error(e, e.message(), e.retry_after());
    if error.status == Some(404) {
        let ids = asked
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        return FetchError {
            message: format!("query job not found among [{ids}]: {}", error.message),
            ..error
        };
    }
    error
}
