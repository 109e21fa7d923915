//! Looking at a group of masters from outside, as the HA tests do: one
//! request without following its redirect, a master's `/state`, and the
//! leader every master agrees on.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// An HTTP client that shows redirects instead of following them.
fn unfollowing() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(5))
        .build()?)
}

/// `GET http://<master><path>` without following a redirect: the status
/// and the `Location`.
pub async fn get_unfollowed(
    master: &str,
    path: &str,
) -> anyhow::Result<(StatusCode, Option<String>)> {
    let response = unfollowing()?
        .get(format!("http://{master}{path}"))
        .send()
        .await?;
    Ok((response.status(), location(&response)))
}

/// A SUBSCRIBE posted to `http://<master><path>` without following a
/// redirect: the status and the `Location`.
pub async fn post_subscribe_unfollowed(
    master: &str,
    path: &str,
) -> anyhow::Result<(StatusCode, Option<String>)> {
    let body = r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":"probe"}}}"#;
    let response = unfollowing()?
        .post(format!("http://{master}{path}"))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(body)
        .send()
        .await?;
    Ok((response.status(), location(&response)))
}

fn location(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// `GET /state` of the master at `addr`, which must answer 200 (a leader,
/// or an in-process master).
pub async fn master_state(addr: &str) -> anyhow::Result<Value> {
    let response = unfollowing()?
        .get(format!("http://{addr}/state"))
        .send()
        .await?;
    anyhow::ensure!(
        response.status() == StatusCode::OK,
        "GET /state of {addr}: {}",
        response.status()
    );
    Ok(response.json().await?)
}

/// The leader of `masters` once every one's `/redirect` points at it, it
/// is one of them and its `/state` says it leads: `Ok(None)` while they
/// disagree or point elsewhere; an error naming the master while one does
/// not redirect (no leader known to it) or the named one does not lead.
pub async fn agreed_leader(masters: &[&str]) -> anyhow::Result<Option<String>> {
    let mut seen = Vec::new();
    for addr in masters {
        let (status, location) = get_unfollowed(addr, "/redirect").await?;
        anyhow::ensure!(
            status == StatusCode::TEMPORARY_REDIRECT,
            "{addr} /redirect: {status}"
        );
        seen.push(location.unwrap_or_default());
    }
    let Some(first) = seen.first().cloned() else {
        return Ok(None);
    };
    if seen.iter().any(|l| *l != first) {
        return Ok(None);
    }
    let leader = first.trim_start_matches("//").to_owned();
    if !masters.contains(&leader.as_str()) {
        return Ok(None);
    }
    let doc = master_state(&leader).await?;
    anyhow::ensure!(
        doc["leader"] == format!("master@{leader}") && doc["elected_time"].is_number(),
        "{leader} does not say it leads: {} {}",
        doc["leader"],
        doc["elected_time"]
    );
    Ok(Some(leader))
}
