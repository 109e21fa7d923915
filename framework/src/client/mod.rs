//! The client commands of `ovn-mesos`, which talk to a running framework
//! over its HTTP API (`--api`, `OVN_MESOS_API`, default [`DEFAULT_API`]):
//!
//! * `apply -f PATH...`: `POST /v1/definitions`, one request per file, after
//!   every file is read and found to be JSON (one bad file sends nothing);
//! * `scale NAME N`, `delete NAME`, `cancel NAME`: one request each;
//! * `get definitions|services|tasks|deployments [-o table|json] [--watch]`:
//!   a list as a `kubectl get`-like table ([`table`]) or JSON, and with
//!   `--watch` again after every event;
//! * `events [--type T...]`: the event stream ([`sse`]), one JSON a line.
//!
//! The requests are in [`http`]. Errors are one line each, as
//! [`crate::exit`] prints them; `apply` prints one line per file that the
//! API refused and goes on with the others.
//!
//! [`DEFAULT_API`]: crate::cli::DEFAULT_API

pub mod files;
pub mod http;
pub mod sse;
pub mod table;
pub mod views;

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::cli::{
    ApplyArgs, CancelArgs, ClientCommand, DeleteArgs, EventsArgs, GetArgs, Output, Resource,
    ScaleArgs,
};
use http::{ApiClient, ClientError};

/// The shortest time between two tables of `get --watch`.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(200);

/// Runs one client command, printing its results to `out` and the lines of
/// `apply`'s refused files to `err`; the error returned is the command's
/// failure, for [`crate::exit::report`].
pub async fn run(
    command: &ClientCommand,
    out: &mut impl Write,
    err: &mut impl Write,
) -> Result<()> {
    match command {
        ClientCommand::Apply(args) => apply(args, out, err).await,
        ClientCommand::Scale(args) => scale(args, out).await,
        ClientCommand::Delete(args) => delete(args, out).await,
        ClientCommand::Cancel(args) => cancel(args, out).await,
        ClientCommand::Get(args) => get(args, out).await,
        ClientCommand::Events(args) => events(args, out).await,
    }
}

/// `ovn-mesos apply`: reads and checks every file first, then sends each.
pub async fn apply(args: &ApplyArgs, out: &mut impl Write, err: &mut impl Write) -> Result<()> {
    let client = ApiClient::new(&args.api.api)?;
    let files = files::read_definitions(&args.files)?;
    let mut failed = 0;
    for file in &files {
        let answer = client
            .post(&["v1", "definitions"], file.bytes.clone())
            .await
            .and_then(|answer| {
                let id = text_field(&client, &answer, "definition")?;
                let result = text_field(&client, &answer, "result")?;
                Ok((id, result))
            });
        match answer {
            Ok((id, result)) => print_line(out, &format!("definition {id} {result}"))?,
            Err(e) if e.is_unreachable() => return Err(e.into()),
            Err(e) => {
                failed += 1;
                writeln!(err, "ovn-mesos: error: {}: {e}", file.path.display())
                    .context("cannot write the errors")?;
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} definition files not applied", files.len());
    }
    Ok(())
}

/// `ovn-mesos scale`: sets a definition's instances.
pub async fn scale(args: &ScaleArgs, out: &mut impl Write) -> Result<()> {
    let client = ApiClient::new(&args.api.api)?;
    let body = json!({ "instances": args.instances });
    let answer = client
        .put(&["v1", "definitions", &args.name, "instances"], &body)
        .await?;
    let name = optional_text(&answer, "definition").unwrap_or_else(|| args.name.clone());
    let result = text_field(&client, &answer, "result")?;
    let instances = answer
        .get("instances")
        .and_then(Value::as_u64)
        .unwrap_or(u64::from(args.instances));
    let line = match result.as_str() {
        "scaled" => format!("definition {name} scaled to {instances}"),
        other => format!("definition {name} {other}"),
    };
    print_line(out, &line)
}

/// `ovn-mesos delete`: deletes a definition.
pub async fn delete(args: &DeleteArgs, out: &mut impl Write) -> Result<()> {
    let client = ApiClient::new(&args.api.api)?;
    let answer = client.delete(&["v1", "definitions", &args.name]).await?;
    let name = optional_text(&answer, "definition").unwrap_or_else(|| args.name.clone());
    let result = text_field(&client, &answer, "result")?;
    print_line(out, &format!("definition {name} {result}"))
}

/// `ovn-mesos cancel`: cancels (rolls back) a definition's deployment.
pub async fn cancel(args: &CancelArgs, out: &mut impl Write) -> Result<()> {
    let client = ApiClient::new(&args.api.api)?;
    let answer = client.delete(&["v1", "deployments", &args.name]).await?;
    let result = text_field(&client, &answer, "result")?;
    print_line(out, &format!("deployment of {} {result}", args.name))
}

/// `ovn-mesos get`: prints a list, and with `--watch` prints it again
/// after the events that follow, at most every [`WATCH_INTERVAL`], until
/// the event stream ends.
pub async fn get(args: &GetArgs, out: &mut impl Write) -> Result<()> {
    let client = ApiClient::new(&args.api.api)?;
    if !args.watch {
        let text = list(&client, args.resource, args.output).await?;
        return print_text(out, &text).map(drop);
    }
    // Subscribe first, so a change made while the list is fetched is
    // followed by another table rather than missed.
    let mut events = client.events(&[]).await?;
    let text = list(&client, args.resource, args.output).await?;
    if !print_text(out, &text)? {
        return Ok(());
    }
    let mut last = Instant::now();
    let mut changed = false;
    loop {
        tokio::select! {
            biased;
            _ = tokio::time::sleep_until(last + WATCH_INTERVAL), if changed => {
                changed = false;
                let text = list(&client, args.resource, args.output).await?;
                if !print_text(out, &format!("\n{text}"))? {
                    return Ok(());
                }
                last = Instant::now();
            }
            event = events.next() => match event {
                Some(Ok(_)) => changed = true,
                Some(Err(e)) => return Err(e.into()),
                None => {
                    if changed {
                        let text = list(&client, args.resource, args.output).await?;
                        print_text(out, &format!("\n{text}"))?;
                    }
                    return Ok(());
                }
            },
        }
    }
}

/// `ovn-mesos events`: prints each event's data on its own line until the
/// stream ends.
pub async fn events(args: &EventsArgs, out: &mut impl Write) -> Result<()> {
    let client = ApiClient::new(&args.api.api)?;
    let mut stream = client.events(&args.types).await?;
    while let Some(event) = stream.next().await {
        let event = event?;
        if !print_text(out, &format!("{}\n", one_line_json(&event.data)))? {
            break;
        }
    }
    Ok(())
}

/// The list of `resource` as `output` prints it.
async fn list(client: &ApiClient, resource: Resource, output: Output) -> Result<String> {
    let key = match resource {
        Resource::Definitions => "definitions",
        Resource::Services => "services",
        Resource::Tasks => "tasks",
        Resource::Deployments => "deployments",
    };
    let answer = client.get(&["v1", key]).await?;
    let Some(items) = answer.get(key).filter(|v| v.is_array()) else {
        return Err(client
            .bad_answer(format!("no {key:?} list in the answer"))
            .into());
    };
    if output == Output::Json {
        let text = serde_json::to_string_pretty(items).context("cannot print the list")?;
        return Ok(format!("{text}\n"));
    }
    Ok(match resource {
        Resource::Definitions => table::definitions(&views(client, items)?),
        Resource::Services => table::services(&views(client, items)?),
        Resource::Tasks => table::tasks(&views(client, items)?),
        Resource::Deployments => table::deployments(&views(client, items)?, now()),
    })
}

/// The items of a list as views.
fn views<T: DeserializeOwned>(client: &ApiClient, items: &Value) -> Result<Vec<T>, ClientError> {
    serde_json::from_value(items.clone()).map_err(|e| client.bad_answer(e.to_string()))
}

/// The string field `key` of an answer, which must be there.
fn text_field(client: &ApiClient, answer: &Value, key: &str) -> Result<String, ClientError> {
    optional_text(answer, key).ok_or_else(|| client.bad_answer(format!("no {key:?} in {answer}")))
}

/// The string field `key` of an answer, if it is there.
fn optional_text(answer: &Value, key: &str) -> Option<String> {
    answer.get(key).and_then(Value::as_str).map(str::to_owned)
}

/// An event's data on one line: as sent when it already is one, else the
/// JSON compacted (or the lines joined with spaces when it is not JSON).
fn one_line_json(data: &str) -> String {
    if !data.contains(['\n', '\r']) {
        return data.to_owned();
    }
    serde_json::from_str::<Value>(data)
        .map(|v| v.to_string())
        .unwrap_or_else(|_| data.replace(['\r', '\n'], " "))
}

/// Prints `line` and a newline, flushed.
fn print_line(out: &mut impl Write, line: &str) -> Result<()> {
    print_text(out, &format!("{line}\n")).map(drop)
}

/// Prints `text` and flushes it; `false` when the reader has gone (a closed
/// pipe: `ovn-mesos events | head`), which ends a command quietly.
fn print_text(out: &mut impl Write, text: &str) -> Result<bool> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write the output")),
    }
}

/// Seconds since the Unix epoch.
fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests;
