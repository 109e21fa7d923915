//! `POST /api/v1/scheduler`: the checks of `Master::Http::scheduler` in
//! Mesos' order and with its status codes, then the call's dispatch.
//!
//! 307 to the leader on a master that does not lead (503 without one);
//! 405 non-POST; 400/415 Content-Type; 400 undecodable body, missing
//! required fields or invalid call; SUBSCRIBE: 406 Accept, 400 when a
//! `Mesos-Stream-Id` is sent, else 200 with the stream; other calls: 400
//! unknown framework, 403 framework not subscribed, 400 missing or wrong
//! `Mesos-Stream-Id`, then 202 (200 for the synchronous
//! UPDATE_FRAMEWORK and RECONCILE_OPERATIONS, 501 for UNKNOWN).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::{IntoResponse, Response};
use mesos_proto::v1::scheduler::{call, Call};
use mesos_proto::MESOS_STREAM_ID_HEADER;
use tracing::debug;

use super::validation;
use super::Master;
use crate::api::{self, ApiError};

/// The axum handler.
pub(crate) async fn scheduler(
    State(master): State<Arc<Master>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A scheduler may reach a master before the master knows whether it
    // leads (a ZooKeeper watch delay): it is sent to the leader.
    if !master.elected() {
        return master.redirect(&uri);
    }
    match handle(&master, &method, &headers, &body) {
        Ok(response) => response,
        Err(error) => {
            debug!(status = %error.status, message = %error.message, "scheduler call refused");
            error.into_response()
        }
    }
}

fn handle(
    master: &Arc<Master>,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    api::require_post(method)?;
    let encoding = api::content_encoding(headers)?;
    let call: Call = api::decode_call(encoding, body)?;
    validation::validate_call(&call)
        .map_err(|e| ApiError::bad_request(format!("Failed to validate scheduler::Call: {e}")))?;

    if call.r#type() == call::Type::Subscribe {
        let accept = api::accept_encoding(headers)?;
        if headers.contains_key(MESOS_STREAM_ID_HEADER) {
            return Err(ApiError::bad_request(
                "Subscribe calls should not include the 'Mesos-Stream-Id' header",
            ));
        }
        let subscribe = call.subscribe.unwrap_or_default();
        return Ok(master.subscribe(subscribe, accept));
    }

    let framework_id = call.framework_id.clone().unwrap_or_default().value;
    let mut state = master.lock();
    let Some(framework) = state.frameworks.get(&framework_id) else {
        return Err(ApiError::bad_request("Framework cannot be found"));
    };
    let Some(connection) = &framework.connection else {
        return Err(ApiError::forbidden("Framework is not subscribed"));
    };
    let Some(stream_id) = headers.get(MESOS_STREAM_ID_HEADER) else {
        return Err(ApiError::bad_request(
            "All non-subscribe calls should include the 'Mesos-Stream-Id' header",
        ));
    };
    let stream_id = stream_id.to_str().unwrap_or_default();
    if stream_id != connection.stream_id {
        return Err(ApiError::bad_request(format!(
            "The stream ID '{stream_id}' included in this request didn't match the stream ID \
             currently associated with framework ID {framework_id}"
        )));
    }
    master.dispatch(&mut state, &framework_id, call, headers)
}
