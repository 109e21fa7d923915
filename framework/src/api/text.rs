//! A writer of the Prometheus text exposition format 0.0.4: `# HELP` and
//! `# TYPE` lines per metric family and one line per sample, every name
//! prefixed `ovn_mesos_`, label values and help text escaped as the format
//! requires (`\\`, `\"`, `\n`).

use std::fmt::Display;

/// The prefix of every metric name.
pub(super) const PREFIX: &str = "ovn_mesos_";

/// A metric family: its name (without the prefix), type and help text.
#[derive(Clone, Copy, Debug)]
pub(super) struct Family {
    pub(super) name: &'static str,
    kind: &'static str,
    help: &'static str,
}

impl Family {
    /// A counter (a `_total` name, only ever increasing).
    pub(super) const fn counter(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            kind: "counter",
            help,
        }
    }

    /// A gauge (a value that goes up and down).
    pub(super) const fn gauge(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            kind: "gauge",
            help,
        }
    }

    /// A histogram (`_bucket`, `_sum` and `_count` samples).
    pub(super) const fn histogram(name: &'static str, help: &'static str) -> Family {
        Family {
            name,
            kind: "histogram",
            help,
        }
    }
}

/// Text being rendered; [`Text::out`] is the finished document.
#[derive(Debug, Default)]
pub(super) struct Text {
    pub(super) out: String,
}

impl Text {
    /// The `# HELP` and `# TYPE` lines of `family`.
    pub(super) fn family(&mut self, family: &Family) {
        let Family { name, kind, help } = family;
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        self.out += &format!("# HELP {PREFIX}{name} {help}\n# TYPE {PREFIX}{name} {kind}\n");
    }

    /// One sample line: `ovn_mesos_<name>{label="value",...} value`.
    pub(super) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.out += PREFIX;
        self.out += name;
        if !labels.is_empty() {
            let labels: Vec<String> = labels
                .iter()
                .map(|(key, value)| format!("{key}=\"{}\"", escape_label(value)))
                .collect();
            self.out += &format!("{{{}}}", labels.join(","));
        }
        self.out += &format!(" {value}\n");
    }
}

/// A label value escaped per the text format: backslash, double quote, newline.
pub(super) fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A parsed sample line: name, labels (unescaped) and value.
    #[derive(Debug, PartialEq)]
    pub(crate) struct Sample {
        pub(crate) name: String,
        pub(crate) labels: Vec<(String, String)>,
        pub(crate) value: f64,
    }

    /// Parses one sample line strictly, as a Prometheus scraper would;
    /// `Err` says what is wrong with it.
    pub(crate) fn parse_sample(line: &str) -> Result<Sample, String> {
        let name_end = line
            .find(['{', ' '])
            .ok_or_else(|| format!("no value in {line:?}"))?;
        let name = &line[..name_end];
        let name_ok = name.chars().enumerate().all(|(i, c)| {
            c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
        });
        if name.is_empty() || !name_ok {
            return Err(format!("bad metric name {name:?}"));
        }
        let mut rest = &line[name_end..];
        let mut labels = Vec::new();
        if let Some(after) = rest.strip_prefix('{') {
            rest = after;
            loop {
                if let Some(after) = rest.strip_prefix('}') {
                    rest = after;
                    break;
                }
                let eq = rest
                    .find("=\"")
                    .ok_or_else(|| format!("bad label in {line:?}"))?;
                let key = rest[..eq].trim_start_matches(',').to_string();
                let mut value = String::new();
                let mut chars = rest[eq + 2..].char_indices();
                let end = loop {
                    match chars.next() {
                        Some((i, '"')) => break eq + 2 + i + 1,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, '\\')) => value.push('\\'),
                            Some((_, '"')) => value.push('"'),
                            Some((_, 'n')) => value.push('\n'),
                            other => return Err(format!("bad escape {other:?} in {line:?}")),
                        },
                        Some((_, '\n')) | None => return Err(format!("open label in {line:?}")),
                        Some((_, c)) => value.push(c),
                    }
                };
                labels.push((key, value));
                rest = &rest[end..];
            }
        }
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("no space before the value in {line:?}"))?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .map_err(|_| format!("bad value {v:?} in {line:?}"))?,
        };
        Ok(Sample {
            name: name.to_string(),
            labels,
            value,
        })
    }

    /// Parses a whole rendering, checking that every sample belongs to the
    /// family declared just before it with a HELP then a TYPE line.
    pub(crate) fn parse(text: &str) -> Vec<Sample> {
        let mut declared: Vec<(String, String)> = Vec::new();
        let mut samples = Vec::new();
        for line in text.lines() {
            if let Some(help) = line.strip_prefix("# HELP ") {
                let (name, _) = help.split_once(' ').expect("HELP has a name and text");
                declared.push((name.to_string(), String::new()));
            } else if let Some(kind) = line.strip_prefix("# TYPE ") {
                let (name, kind) = kind.split_once(' ').expect("TYPE has a name and kind");
                let last = declared.last_mut().expect("TYPE follows HELP");
                assert_eq!(last.0, name, "TYPE of {name} right after its HELP");
                assert!(["counter", "gauge", "histogram"].contains(&kind));
                last.1 = kind.to_string();
            } else {
                let sample = parse_sample(line).unwrap();
                let (family, kind) = declared.last().expect("a family before samples");
                let base = match kind.as_str() {
                    "histogram" => ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|s| sample.name.strip_suffix(s))
                        .unwrap_or(&sample.name),
                    _ => &sample.name,
                };
                assert_eq!(base, family, "{line} is in its family");
                assert!(sample.name.starts_with(PREFIX));
                samples.push(sample);
            }
        }
        let names: Vec<&String> = declared.iter().map(|(name, _)| name).collect();
        let unique: std::collections::BTreeSet<&String> = names.iter().copied().collect();
        assert_eq!(unique.len(), names.len(), "each family is declared once");
        assert!(text.ends_with('\n'));
        samples
    }

    /// The value of the sample `name` with exactly `labels`.
    pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels: Vec<(String, String)> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        samples
            .iter()
            .find(|s| s.name == name && s.labels == labels)
            .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
            .value
    }

    #[test]
    fn a_family_has_help_and_type_lines() {
        let mut text = Text::default();
        text.family(&Family::counter("x_total", "Things.\nMore \\ things."));
        assert_eq!(
            text.out,
            "# HELP ovn_mesos_x_total Things.\\nMore \\\\ things.\n\
             # TYPE ovn_mesos_x_total counter\n"
        );
    }

    #[test]
    fn a_sample_without_labels_is_name_space_value() {
        let mut text = Text::default();
        text.sample("services", &[], 3);
        assert_eq!(text.out, "ovn_mesos_services 3\n");
    }

    #[test]
    fn label_values_are_escaped_and_parse_back() {
        let mut text = Text::default();
        let nasty = "co\"ke\\x\nline";
        text.sample("tasks", &[("tenant", nasty), ("service", "web")], 2);
        assert_eq!(
            text.out,
            "ovn_mesos_tasks{tenant=\"co\\\"ke\\\\x\\nline\",service=\"web\"} 2\n"
        );
        let sample = parse_sample(text.out.trim_end_matches('\n')).unwrap();
        assert_eq!(sample.name, "ovn_mesos_tasks");
        let tenant = ("tenant".to_string(), nasty.to_string());
        assert_eq!(
            sample.labels,
            vec![tenant, ("service".into(), "web".into())]
        );
        assert_eq!(sample.value, 2.0);
    }

    #[test]
    fn the_parser_rejects_malformed_lines() {
        assert!(parse_sample("ovn_mesos_x").is_err());
        assert!(parse_sample("ovn_mesos_x{a=\"b} 1").is_err());
        assert!(parse_sample("ovn_mesos_x{a=\"\\q\"} 1").is_err());
        assert!(parse_sample("ovn_mesos_x one").is_err());
        assert!(parse_sample("9x 1").is_err());
    }
}
