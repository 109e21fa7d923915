//! The tables of `ovn-mesos get`, like `kubectl get`: upper-case headers,
//! columns padded with spaces and two spaces apart, no borders, `-` for a
//! value that is not there. Pure: views in, text out.

use super::views::{DefinitionView, DeploymentView, ServiceView, TaskView};

/// The headers of the definitions table.
pub const DEFINITION_HEADERS: [&str; 10] = [
    "NAME",
    "TENANT",
    "SERVICE",
    "INSTANCES",
    "RUNNING",
    "HEALTHY",
    "VERSION",
    "DEPLOYMENT",
    "SOURCE",
    "WAITING",
];
/// The headers of the services table.
pub const SERVICE_HEADERS: [&str; 7] = [
    "TENANT",
    "NAME",
    "CLUSTER-IP",
    "VIPS",
    "BACKENDS",
    "INSTANCES",
    "HEALTHY",
];
/// The headers of the tasks table.
pub const TASK_HEADERS: [&str; 7] = [
    "ID",
    "DEFINITION",
    "STATE",
    "HEALTHY",
    "IP",
    "HOST",
    "VERSION",
];
/// The headers of the deployments table.
pub const DEPLOYMENT_HEADERS: [&str; 8] = [
    "DEFINITION",
    "STATE",
    "FROM",
    "TO",
    "NEW",
    "OLD",
    "AGE",
    "REASON",
];

/// How many backends the services table shows before `+ N more`.
const SHOWN_BACKENDS: usize = 3;
/// How many characters of a version the tables show (as the deployment ids do).
const SHORT_VERSION: usize = 8;

/// Lays `rows` out under `headers`: each column as wide as its widest cell,
/// two spaces between columns, no trailing spaces; every line ends with
/// `\n`. An empty list prints the header line only.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let width = cell.chars().count();
            match widths.get_mut(i) {
                Some(w) => *w = (*w).max(width),
                None => widths.push(width),
            }
        }
    }
    let mut text = String::new();
    let header_row: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            line.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text
}

/// The definitions table.
pub fn definitions(list: &[DefinitionView]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            vec![
                or_dash(&d.id),
                or_dash(&d.tenant),
                or_dash(&d.service),
                d.instances.to_string(),
                d.running.to_string(),
                d.healthy.to_string(),
                short_version(&d.version),
                d.deployment
                    .as_ref()
                    .map_or_else(|| "-".to_owned(), |dep| or_dash(&dep.state)),
                or_dash(&d.source),
                d.waiting
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), one_line),
            ]
        })
        .collect();
    render(&DEFINITION_HEADERS, &rows)
}

/// The services table.
pub fn services(list: &[ServiceView]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|s| {
            vec![
                or_dash(&s.tenant),
                or_dash(&s.name),
                s.east_west
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), or_dash),
                join_or_dash(&s.vips, s.vips.len()),
                join_or_dash(&s.backends, SHOWN_BACKENDS),
                s.instances.to_string(),
                s.healthy.to_string(),
            ]
        })
        .collect();
    render(&SERVICE_HEADERS, &rows)
}

/// The tasks table.
pub fn tasks(list: &[TaskView]) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|t| {
            let mut state = or_dash(&t.state);
            if t.draining == Some(true) {
                state.push_str(" (draining)");
            }
            vec![
                or_dash(&t.id),
                or_dash(&t.definition),
                state,
                t.healthy.map_or_else(|| "-".to_owned(), |h| h.to_string()),
                t.ip.as_deref().map_or_else(|| "-".to_owned(), or_dash),
                t.hostname
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), or_dash),
                t.version
                    .as_deref()
                    .map_or_else(|| "-".to_owned(), short_version),
            ]
        })
        .collect();
    render(&TASK_HEADERS, &rows)
}

/// The deployments table; `now` (seconds since the Unix epoch) gives the ages.
pub fn deployments(list: &[DeploymentView], now: f64) -> String {
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|d| {
            let mut new = format!("{}/{}", d.new_healthy, d.instances);
            if d.new_tasks > d.new_healthy {
                new.push_str(&format!(" (+{} starting)", d.new_tasks - d.new_healthy));
            }
            let mut old = d.old_tasks.to_string();
            if d.draining > 0 {
                old.push_str(&format!(" ({} draining)", d.draining));
            }
            vec![
                or_dash(&d.definition),
                or_dash(&d.state),
                short_version(&d.from),
                short_version(&d.to),
                new,
                old,
                age(now - d.started_at),
                d.reason.as_deref().map_or_else(|| "-".to_owned(), one_line),
            ]
        })
        .collect();
    render(&DEPLOYMENT_HEADERS, &rows)
}

/// An age as `kubectl get` prints it: `42s`, `3m12s`, `45m`, `3h12m`,
/// `30h`, `3d4h`, `12d` (a negative or unknown age is `0s`).
pub fn age(seconds: f64) -> String {
    let s = if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    };
    let (m, h, d) = (s / 60, s / 3600, s / 86400);
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        format!("{m}m{}s", s % 60)
    } else if h < 3 {
        format!("{m}m")
    } else if h < 8 {
        format!("{h}h{}m", m % 60)
    } else if h < 48 {
        format!("{h}h")
    } else if d < 8 {
        format!("{d}d{}h", h % 24)
    } else {
        format!("{d}d")
    }
}

/// `value`, or `-` when it is empty.
fn or_dash(value: &str) -> String {
    if value.is_empty() {
        "-".to_owned()
    } else {
        one_line(value)
    }
}

/// The first [`SHORT_VERSION`] characters of a version, or `-`.
fn short_version(version: &str) -> String {
    or_dash(&version.chars().take(SHORT_VERSION).collect::<String>())
}

/// `values` joined with commas, the first `shown` of them and `+ N more`
/// for the rest, or `-` when there are none.
fn join_or_dash(values: &[String], shown: usize) -> String {
    if values.is_empty() {
        return "-".to_owned();
    }
    let mut text = values[..values.len().min(shown)].join(",");
    if values.len() > shown {
        text.push_str(&format!(" + {} more", values.len() - shown));
    }
    text
}

/// `text` with its line breaks turned into spaces, so a row stays one line.
fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell_and_two_spaces_apart() {
        let text = render(
            &["NAME", "N", "LAST"],
            &[
                strings(&["a", "1000", "x"]),
                strings(&["longer-name", "2", ""]),
            ],
        );
        assert_eq!(
            text,
            "NAME         N     LAST\n\
             a            1000  x\n\
             longer-name  2\n"
        );
    }

    #[test]
    fn widths_count_characters_not_bytes() {
        let text = render(&["A", "B"], &[strings(&["été", "x"])]);
        assert_eq!(text, "A    B\nété  x\n");
    }

    #[test]
    fn an_empty_list_prints_the_header_only() {
        assert_eq!(
            definitions(&[]),
            "NAME  TENANT  SERVICE  INSTANCES  RUNNING  HEALTHY  VERSION  DEPLOYMENT  SOURCE  WAITING\n"
        );
        assert_eq!(services(&[]).lines().count(), 1);
        assert_eq!(
            tasks(&[]),
            "ID  DEFINITION  STATE  HEALTHY  IP  HOST  VERSION\n"
        );
        assert_eq!(
            deployments(&[], 0.0),
            "DEFINITION  STATE  FROM  TO  NEW  OLD  AGE  REASON\n"
        );
    }

    #[test]
    fn a_definition_shows_its_deployment_state_and_why_it_waits() {
        let deploying = DefinitionView {
            id: "nginxcoke".into(),
            tenant: "coke".into(),
            service: "coke-web".into(),
            instances: 2,
            running: 2,
            healthy: 1,
            version: "a1b2c3d4e5f60718".into(),
            source: "api".into(),
            deployment: Some(DeploymentView {
                state: "in-progress".into(),
                ..DeploymentView::default()
            }),
            waiting: Some("no offer\nfits".into()),
            ..DefinitionView::default()
        };
        let quiet = DefinitionView {
            id: "db".into(),
            source: "file".into(),
            ..DefinitionView::default()
        };
        let text = definitions(&[deploying, quiet]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "nginxcoke  coke    coke-web  2          2        1        a1b2c3d4  in-progress  api     no offer fits"
        );
        assert_eq!(
            lines[2],
            "db         -       -         0          0        0        -         -            file    -"
        );
    }

    #[test]
    fn a_service_lists_its_first_backends_and_counts_the_rest() {
        let service = ServiceView {
            tenant: "coke".into(),
            name: "web".into(),
            vips: vec!["10.10.1.12:32350".into(), "10.10.1.13:32350".into()],
            east_west: Some("10.96.0.2:32350".into()),
            backends: (1..=5).map(|i| format!("192.168.1.{i}:80")).collect(),
            instances: 5,
            healthy: 4,
            ..ServiceView::default()
        };
        let text = services(&[service]);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "coke    web   10.96.0.2:32350  10.10.1.12:32350,10.10.1.13:32350  \
             192.168.1.1:80,192.168.1.2:80,192.168.1.3:80 + 2 more  5          4"
        );
    }

    #[test]
    fn a_task_without_a_host_health_or_version_shows_dashes() {
        let staging = TaskView {
            id: "web-1".into(),
            definition: "web".into(),
            state: "TASK_STAGING".into(),
            ..TaskView::default()
        };
        let draining = TaskView {
            id: "web-2".into(),
            definition: "web".into(),
            state: "TASK_RUNNING".into(),
            healthy: Some(true),
            ip: Some("192.168.1.5".into()),
            hostname: Some("node1".into()),
            version: Some("0123456789abcdef".into()),
            draining: Some(true),
            ..TaskView::default()
        };
        let text = tasks(&[staging, draining]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "web-1  web         TASK_STAGING             -        -            -      -"
        );
        assert_eq!(
            lines[2],
            "web-2  web         TASK_RUNNING (draining)  true     192.168.1.5  node1  01234567"
        );
    }

    #[test]
    fn a_deployment_shows_its_progress_and_age() {
        let stuck = DeploymentView {
            definition: "nginxcoke".into(),
            state: "stuck".into(),
            from: "a1b2c3d4e5f60718".into(),
            to: "ffeeddccbbaa9988".into(),
            reason: Some("health checks fail".into()),
            started_at: 1000.0,
            instances: 2,
            new_tasks: 2,
            new_healthy: 1,
            old_tasks: 2,
            draining: 1,
            ..DeploymentView::default()
        };
        let text = deployments(&[stuck], 1000.0 + 195.0);
        assert_eq!(
            text.lines().nth(1).unwrap(),
            "nginxcoke   stuck  a1b2c3d4  ffeeddcc  1/2 (+1 starting)  2 (1 draining)  3m15s  health checks fail"
        );
    }

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (-5.0, "0s"),
            (42.9, "42s"),
            (119.0, "119s"),
            (192.0, "3m12s"),
            (45.0 * 60.0, "45m"),
            (3.0 * 3600.0 + 720.0, "3h12m"),
            (30.0 * 3600.0, "30h"),
            (3.0 * 86400.0 + 4.0 * 3600.0, "3d4h"),
            (12.0 * 86400.0, "12d"),
        ];
        for (seconds, want) in cases {
            assert_eq!(age(seconds), want, "{seconds}");
        }
    }
}
