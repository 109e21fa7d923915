//! Placement constraints, as Marathon has them: a template's label holds a
//! JSON array of `[field, operator, value?]` arrays ([`parse_constraints`]),
//! and [`check`] says whether a new task of the template may go on an agent,
//! given the agents its other tasks run on.
//!
//! The field is `hostname` (or `@hostname`), the agent's hostname, or the
//! name of an agent attribute, compared in its text form ([`AgentFacts`]).
//! An agent without the attribute fails every operator except `UNLIKE`,
//! which it passes.
//!
//! | Operator | Value | A new task may go on the agent when |
//! |---|---|---|
//! | `UNIQUE` | none | no task runs where the field has the agent's value |
//! | `CLUSTER` | required | the agent's value is the given one |
//! | `GROUP_BY` | optional count of groups | the agent's value has no task yet, or as few as any value (see [`check`]) |
//! | `MAX_PER` | required count | fewer tasks than the count run where the field has the agent's value |
//! | `LIKE` | required regex | the regex matches the whole value |
//! | `UNLIKE` | required regex | the regex does not match the whole value |

use std::collections::BTreeMap;
use std::fmt::Write as _;

use mesos_proto::v1::{value, Attribute, Offer};
use regex::Regex;

/// The field names that stand for the agent's hostname.
const HOSTNAME_FIELDS: [&str; 2] = ["hostname", "@hostname"];

/// What a [`Like`](Operator::Like) or [`Unlike`](Operator::Unlike) regex is
/// wrapped in so that it must match the whole value.
const ANCHOR_START: &str = r"\A(?:";
const ANCHOR_END: &str = r")\z";

/// One placement constraint: which agent fact it looks at and how.
#[derive(Debug, Clone)]
pub struct Constraint {
    /// `hostname`, `@hostname` or the name of an agent attribute, as written.
    pub field: String,
    /// What the field's value must satisfy.
    pub operator: Operator,
}

/// A constraint's operator with its value.
#[derive(Debug, Clone)]
pub enum Operator {
    /// No two tasks where the field has the same value.
    Unique,
    /// Tasks only where the field has this value.
    Cluster(String),
    /// Tasks spread evenly over the field's values, over at least this many
    /// values; 0 when no number was given, and then over the values seen on
    /// the agents known.
    GroupBy(u32),
    /// Tasks only where the field's whole value matches. [`parse_constraints`]
    /// anchors the pattern (`\A(?:…)\z`); the regex is used as it is.
    Like(Regex),
    /// Tasks only where the field's whole value does not match, or where the
    /// field is missing. Anchored like [`Operator::Like`].
    Unlike(Regex),
    /// At most this many tasks where the field has the same value.
    MaxPer(u32),
}

impl Operator {
    /// The operator's name as written in a constraint.
    fn name(&self) -> &'static str {
        match self {
            Operator::Unique => "UNIQUE",
            Operator::Cluster(_) => "CLUSTER",
            Operator::GroupBy(_) => "GROUP_BY",
            Operator::Like(_) => "LIKE",
            Operator::Unlike(_) => "UNLIKE",
            Operator::MaxPer(_) => "MAX_PER",
        }
    }

    /// The operator's value as written in a constraint, if it has one.
    fn value_text(&self) -> Option<String> {
        match self {
            Operator::Unique | Operator::GroupBy(0) => None,
            Operator::Cluster(v) => Some(v.clone()),
            Operator::GroupBy(n) | Operator::MaxPer(n) => Some(n.to_string()),
            Operator::Like(re) | Operator::Unlike(re) => Some(pattern(re).to_owned()),
        }
    }
}

impl Constraint {
    /// The constraint in Marathon's short text form: `field:OPERATOR` or
    /// `field:OPERATOR:value`, e.g. `hostname:UNIQUE` or `rack:MAX_PER:2`.
    pub fn describe(&self) -> String {
        let mut text = format!("{}:{}", self.field, self.operator.name());
        if let Some(value) = self.operator.value_text() {
            let _ = write!(text, ":{value}");
        }
        text
    }
}

impl PartialEq for Constraint {
    /// Equal when the field, the operator and the value's text are.
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field
            && self.operator.name() == other.operator.name()
            && self.operator.value_text() == other.operator.value_text()
    }
}

impl Eq for Constraint {}

/// The pattern a regex was made from, without the anchors that
/// [`parse_constraints`] adds.
fn pattern(re: &Regex) -> &str {
    let text = re.as_str();
    text.strip_prefix(ANCHOR_START)
        .and_then(|t| t.strip_suffix(ANCHOR_END))
        .unwrap_or(text)
}

/// Parses a constraints label: a JSON array of `[field, operator]` or
/// `[field, operator, value]` arrays of strings, such as
/// `[["hostname","UNIQUE"],["rack","GROUP_BY","3"]]`. Operators are
/// case-insensitive, as Marathon has them.
///
/// The error is one line; for a bad entry it names the entry (counting from
/// 1), e.g. `constraint 2 (["rack","MAX_PER","x"]): MAX_PER needs a positive
/// integer, not "x"`.
pub fn parse_constraints(text: &str) -> Result<Vec<Constraint>, String> {
    let entries: Vec<Vec<String>> = serde_json::from_str(text)
        .map_err(|e| format!("not a JSON array of [field, operator, value?] arrays: {e}"))?;
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            parse_entry(entry).map_err(|why| {
                let shown = serde_json::to_string(entry).unwrap_or_else(|_| format!("{entry:?}"));
                format!("constraint {} ({shown}): {why}", i + 1)
            })
        })
        .collect()
}

/// One `[field, operator, value?]` entry.
fn parse_entry(entry: &[String]) -> Result<Constraint, String> {
    let (field, op, value) = match entry {
        [field, op] => (field, op, None),
        [field, op, value] => (field, op, Some(value.as_str())),
        _ => {
            return Err(format!(
                "needs 2 or 3 strings (field, operator, value?), not {}",
                entry.len()
            ))
        }
    };
    if field.is_empty() {
        return Err("the field is empty".to_owned());
    }
    let written = op;
    let op = written.to_ascii_uppercase();
    let operator = match (op.as_str(), value) {
        ("UNIQUE", None) => Operator::Unique,
        ("UNIQUE", Some(_)) => return Err("UNIQUE takes no value".to_owned()),
        ("CLUSTER", Some(v)) if !v.is_empty() => Operator::Cluster(v.to_owned()),
        ("CLUSTER", _) => return Err("CLUSTER needs a value".to_owned()),
        ("GROUP_BY", None) => Operator::GroupBy(0),
        ("GROUP_BY", Some(v)) => Operator::GroupBy(positive(&op, v)?),
        ("MAX_PER", Some(v)) => Operator::MaxPer(positive(&op, v)?),
        ("MAX_PER", None) => return Err("MAX_PER needs a positive integer".to_owned()),
        ("LIKE", Some(v)) => Operator::Like(full_match(&op, v)?),
        ("UNLIKE", Some(v)) => Operator::Unlike(full_match(&op, v)?),
        ("LIKE" | "UNLIKE", None) => return Err(format!("{op} needs a regular expression")),
        _ => {
            return Err(format!(
                "unknown operator {written:?} (expected UNIQUE, CLUSTER, GROUP_BY, MAX_PER, \
                 LIKE or UNLIKE)"
            ))
        }
    };
    Ok(Constraint {
        field: field.clone(),
        operator,
    })
}

/// A count of at least 1.
fn positive(op: &str, text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{op} needs a positive integer, not {text:?}")),
    }
}

/// A regex that must match a whole value, as Java's `String.matches` does.
fn full_match(op: &str, text: &str) -> Result<Regex, String> {
    if text.is_empty() {
        return Err(format!("{op} needs a regular expression, not \"\""));
    }
    // Compiled alone first, so that a pattern such as `a)|(b` cannot pass
    // by closing the anchoring group.
    let bad = |e: regex::Error| {
        let first = e.to_string();
        let line = first
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("invalid")
            .trim()
            .to_owned();
        format!("{op} needs a regular expression, not {text:?}: {line}")
    };
    Regex::new(text).map_err(bad)?;
    Regex::new(&format!("{ANCHOR_START}{text}{ANCHOR_END}")).map_err(bad)
}

/// An agent as constraints see it: its hostname and its attributes, each
/// value in text form as Marathon writes it: text as it is, a scalar
/// rounded to 3 decimals without trailing zeros (`2`, `1.5`), ranges sorted
/// by start as `[1-5,7-9]`, a set sorted as `{a,b}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentFacts {
    /// The agent's hostname, as offered.
    pub hostname: String,
    /// `(name, value)` per attribute, in the offer's order.
    pub attributes: Vec<(String, String)>,
}

impl AgentFacts {
    /// The facts of an offer's agent: `offer.hostname` and
    /// `offer.attributes`. An attribute of an unknown type is left out; one
    /// whose value is missing gets the empty value of its type (`""`, `0`,
    /// `[]`, `{}`).
    pub fn from_offer(offer: &Offer) -> AgentFacts {
        AgentFacts {
            hostname: offer.hostname.clone(),
            attributes: offer
                .attributes
                .iter()
                .filter_map(|a| attribute_text(a).map(|v| (a.name.clone(), v)))
                .collect(),
        }
    }

    /// The value of `field` on this agent: the hostname for `hostname` and
    /// `@hostname`, else the first attribute of that name, if any.
    pub fn value(&self, field: &str) -> Option<&str> {
        if HOSTNAME_FIELDS.contains(&field) {
            return Some(&self.hostname);
        }
        self.attributes
            .iter()
            .find(|(name, _)| name == field)
            .map(|(_, v)| v.as_str())
    }
}

/// An attribute's value in text form (see [`AgentFacts`]).
fn attribute_text(a: &Attribute) -> Option<String> {
    let text = match value::Type::try_from(a.r#type).ok()? {
        value::Type::Text => a.text.as_ref().map(|t| t.value.clone()).unwrap_or_default(),
        value::Type::Scalar => scalar_text(a.scalar.as_ref().map_or(0.0, |s| s.value)),
        value::Type::Ranges => {
            let mut ranges: Vec<(u64, u64)> = a
                .ranges
                .iter()
                .flat_map(|r| r.range.iter().map(|r| (r.begin, r.end)))
                .collect();
            ranges.sort_by_key(|&(begin, _)| begin);
            let parts: Vec<String> = ranges.iter().map(|(b, e)| format!("{b}-{e}")).collect();
            format!("[{}]", parts.join(","))
        }
        value::Type::Set => {
            let mut items: Vec<&str> = a
                .set
                .iter()
                .flat_map(|s| s.item.iter().map(String::as_str))
                .collect();
            items.sort_unstable();
            format!("{{{}}}", items.join(","))
        }
    };
    Some(text)
}

/// A scalar rounded to 3 decimals (ties to even), trailing zeros and a
/// trailing point dropped: `2`, `1.5`, `0.333`.
fn scalar_text(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let mut text = format!("{v:.3}");
    if text.contains('.') {
        let kept = text.trim_end_matches('0').trim_end_matches('.').len();
        text.truncate(kept);
    }
    text
}

/// Whether a new task of a template may go on `candidate`: `Ok(())` when
/// every constraint allows it, else the reason for the first that does not,
/// one line naming the constraint, e.g. `hostname:UNIQUE: agent1 already
/// runs a task of it`.
///
/// `placed` holds the facts of the agent of each task of the template that
/// runs or is being launched (one entry per task, so an agent with two tasks
/// is there twice), including the tasks placed earlier in the same batch of
/// offers. Tasks on agents without a constraint's field do not count for
/// it. `known` holds the agents known, which only `GROUP_BY` without a
/// number uses.
///
/// `GROUP_BY n`, as Marathon does: a value without tasks is always allowed
/// (so tasks go on more than `n` values if there are more); a value with
/// tasks is allowed when at least `n` values have tasks and none has fewer
/// tasks than it. Without `n`, a value with tasks is allowed when every
/// value of the field among `known` has tasks and none has fewer.
pub fn check(
    constraints: &[Constraint],
    candidate: &AgentFacts,
    placed: &[&AgentFacts],
    known: &[&AgentFacts],
) -> Result<(), String> {
    constraints.iter().try_for_each(|c| {
        check_one(c, candidate, placed, known).map_err(|why| format!("{}: {why}", c.describe()))
    })
}

/// One constraint; the error is the reason without the constraint.
fn check_one(
    c: &Constraint,
    candidate: &AgentFacts,
    placed: &[&AgentFacts],
    known: &[&AgentFacts],
) -> Result<(), String> {
    let field = c.field.as_str();
    let Some(value) = candidate.value(field) else {
        return match c.operator {
            Operator::Unlike(_) => Ok(()),
            _ => Err(format!("{} has no attribute {field}", candidate.hostname)),
        };
    };
    // Who has the value: the hostname, or "host's field value".
    let subject = || {
        if HOSTNAME_FIELDS.contains(&field) {
            value.to_owned()
        } else {
            format!("{}'s {field} {value}", candidate.hostname)
        }
    };
    let tasks_with = |v: &str| placed.iter().filter(|p| p.value(field) == Some(v)).count();
    match &c.operator {
        Operator::Unique => match tasks_with(value) {
            0 => Ok(()),
            _ => Err(format!("{} already runs a task of it", subject())),
        },
        Operator::Cluster(wanted) => {
            if value == wanted {
                Ok(())
            } else if HOSTNAME_FIELDS.contains(&field) {
                Err(format!("{value} is not {wanted}"))
            } else {
                Err(format!("{} is not {wanted}", subject()))
            }
        }
        Operator::MaxPer(max) => {
            let count = tasks_with(value);
            if count < *max as usize {
                Ok(())
            } else {
                Err(format!("{} already has {}", subject(), tasks(count)))
            }
        }
        Operator::Like(re) => {
            if re.is_match(value) {
                Ok(())
            } else {
                Err(format!("{} does not match {}", subject(), pattern(re)))
            }
        }
        Operator::Unlike(re) => {
            if re.is_match(value) {
                Err(format!("{} matches {}", subject(), pattern(re)))
            } else {
                Ok(())
            }
        }
        Operator::GroupBy(groups) => {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for v in placed.iter().filter_map(|p| p.value(field)) {
                *counts.entry(v).or_default() += 1;
            }
            let count = counts.get(value).copied().unwrap_or(0);
            if count == 0 {
                return Ok(());
            }
            if *groups > 0 && counts.len() < *groups as usize {
                return Err(format!(
                    "{} already has {} while only {} of {groups} values have tasks",
                    subject(),
                    tasks(count),
                    counts.len()
                ));
            }
            if *groups == 0 {
                if let Some(empty) = known
                    .iter()
                    .filter_map(|k| k.value(field))
                    .find(|v| !counts.contains_key(v))
                {
                    return Err(format!(
                        "{} already has {} while {field} {empty} has none",
                        subject(),
                        tasks(count)
                    ));
                }
            }
            let fewest = counts.values().copied().min().unwrap_or(0);
            if count > fewest {
                Err(format!(
                    "{} already has {} while another {field} has {}",
                    subject(),
                    tasks(count),
                    fewest
                ))
            } else {
                Ok(())
            }
        }
    }
}

/// "1 task", "2 tasks".
fn tasks(n: usize) -> String {
    if n == 1 {
        "1 task".to_owned()
    } else {
        format!("{n} tasks")
    }
}

#[cfg(test)]
mod tests {
    use mesos_proto::v1::value::{Range, Ranges, Scalar, Set, Text};

    use super::*;

    fn agent(host: &str, attrs: &[(&str, &str)]) -> AgentFacts {
        AgentFacts {
            hostname: host.to_owned(),
            attributes: attrs
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    fn one(text: &str) -> Constraint {
        let mut list = parse_constraints(text).expect("parses");
        assert_eq!(list.len(), 1);
        list.remove(0)
    }

    fn parse_err(text: &str) -> String {
        parse_constraints(text).expect_err("must not parse")
    }

    fn ok(c: &str, candidate: &AgentFacts, placed: &[&AgentFacts]) -> bool {
        check(&[one(c)], candidate, placed, &[]).is_ok()
    }

    // --- parsing ---

    #[test]
    fn every_operator_parses_and_describes_itself() {
        let list = parse_constraints(
            r#"[["hostname","UNIQUE"],["zone","CLUSTER","a"],["rack","GROUP_BY","3"],
                ["rack","GROUP_BY"],["hostname","LIKE","agent[12]"],
                ["@hostname","UNLIKE","agent3"],["hostname","MAX_PER","2"]]"#,
        )
        .unwrap();
        let described: Vec<String> = list.iter().map(Constraint::describe).collect();
        assert_eq!(
            described,
            [
                "hostname:UNIQUE",
                "zone:CLUSTER:a",
                "rack:GROUP_BY:3",
                "rack:GROUP_BY",
                "hostname:LIKE:agent[12]",
                "@hostname:UNLIKE:agent3",
                "hostname:MAX_PER:2",
            ]
        );
        assert!(matches!(list[2].operator, Operator::GroupBy(3)));
        assert!(matches!(list[3].operator, Operator::GroupBy(0)));
        assert!(matches!(list[6].operator, Operator::MaxPer(2)));
        assert_eq!(parse_constraints("[]").unwrap(), vec![]);
        assert_eq!(parse_constraints(" [ ] ").unwrap(), vec![]);
    }

    #[test]
    fn operators_are_case_insensitive() {
        let c = one(r#"[["hostname","unique"]]"#);
        assert!(matches!(c.operator, Operator::Unique));
        assert_eq!(c.describe(), "hostname:UNIQUE");
        assert_eq!(
            one(r#"[["rack","Max_Per","4"]]"#).describe(),
            "rack:MAX_PER:4"
        );
    }

    #[test]
    fn constraints_compare_by_text() {
        assert_eq!(
            one(r#"[["h","LIKE","a.*"]]"#),
            one(r#"[["h","like","a.*"]]"#)
        );
        assert_ne!(
            one(r#"[["h","LIKE","a.*"]]"#),
            one(r#"[["h","UNLIKE","a.*"]]"#)
        );
        assert_ne!(
            one(r#"[["h","LIKE","a.*"]]"#),
            one(r#"[["h","LIKE","a.+"]]"#)
        );
        assert_ne!(one(r#"[["h","UNIQUE"]]"#), one(r#"[["g","UNIQUE"]]"#));
        assert_ne!(
            one(r#"[["h","MAX_PER","1"]]"#),
            one(r#"[["h","MAX_PER","2"]]"#)
        );
        assert_ne!(
            one(r#"[["h","GROUP_BY"]]"#),
            one(r#"[["h","GROUP_BY","2"]]"#)
        );
        let manual = Constraint {
            field: "h".into(),
            operator: Operator::Like(Regex::new("a.*").unwrap()),
        };
        assert_eq!(manual.describe(), "h:LIKE:a.*");
        assert_eq!(manual, one(r#"[["h","LIKE","a.*"]]"#));
    }

    #[test]
    fn bad_json_is_an_error() {
        for text in [
            "",
            "hostname:UNIQUE",
            r#"{"hostname":"UNIQUE"}"#,
            r#"["hostname","UNIQUE"]"#,
            r#"[["rack","MAX_PER",2]]"#,
            r#"[["hostname","UNIQUE"]"#,
        ] {
            let e = parse_err(text);
            assert!(
                e.starts_with("not a JSON array of [field, operator, value?] arrays: "),
                "{text}: {e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn the_error_names_the_entry() {
        assert_eq!(
            parse_err(r#"[["hostname","UNIQUE"],["rack","MAX_PER","x"]]"#),
            r#"constraint 2 (["rack","MAX_PER","x"]): MAX_PER needs a positive integer, not "x""#
        );
    }

    #[test]
    fn wrong_arity_is_an_error() {
        assert_eq!(
            parse_err("[[]]"),
            "constraint 1 ([]): needs 2 or 3 strings (field, operator, value?), not 0"
        );
        assert!(parse_err(r#"[["hostname"]]"#).ends_with("not 1"));
        assert!(parse_err(r#"[["a","CLUSTER","b","c"]]"#).ends_with("not 4"));
        assert_eq!(
            parse_err(r#"[["hostname","UNIQUE","x"]]"#),
            r#"constraint 1 (["hostname","UNIQUE","x"]): UNIQUE takes no value"#
        );
        assert!(parse_err(r#"[["zone","CLUSTER"]]"#).ends_with("CLUSTER needs a value"));
        assert!(parse_err(r#"[["zone","CLUSTER",""]]"#).ends_with("CLUSTER needs a value"));
        assert!(parse_err(r#"[["h","MAX_PER"]]"#).ends_with("MAX_PER needs a positive integer"));
        assert!(parse_err(r#"[["h","LIKE"]]"#).ends_with("LIKE needs a regular expression"));
        assert!(parse_err(r#"[["h","UNLIKE"]]"#).ends_with("UNLIKE needs a regular expression"));
    }

    #[test]
    fn an_empty_field_or_unknown_operator_is_an_error() {
        assert!(parse_err(r#"[["","UNIQUE"]]"#).ends_with("the field is empty"));
        assert_eq!(
            parse_err(r#"[["h","IS","x"]]"#),
            r#"constraint 1 (["h","IS","x"]): unknown operator "IS" (expected UNIQUE, CLUSTER, GROUP_BY, MAX_PER, LIKE or UNLIKE)"#
        );
        assert!(parse_err(r#"[["h",""]]"#).contains("unknown operator \"\""));
    }

    #[test]
    fn bad_numbers_are_errors() {
        for (op, v) in [
            ("MAX_PER", "0"),
            ("MAX_PER", "-1"),
            ("MAX_PER", "1.5"),
            ("MAX_PER", ""),
            ("MAX_PER", " 2"),
            ("MAX_PER", "inf"),
            ("MAX_PER", "99999999999"),
            ("GROUP_BY", "0"),
            ("GROUP_BY", "-3"),
            ("GROUP_BY", "three"),
            ("GROUP_BY", ""),
        ] {
            let e = parse_err(&format!(r#"[["rack","{op}","{v}"]]"#));
            assert!(
                e.ends_with(&format!("{op} needs a positive integer, not {v:?}")),
                "{op} {v}: {e}"
            );
        }
    }

    #[test]
    fn bad_regexes_are_errors() {
        for (op, v) in [
            ("LIKE", "agent["),
            ("UNLIKE", "(a"),
            ("LIKE", "a)|(b"),
            ("LIKE", ""),
        ] {
            let e = parse_err(&format!(r#"[["h","{op}","{v}"]]"#));
            assert!(
                e.contains(&format!("{op} needs a regular expression, not {v:?}")),
                "{op} {v}: {e}"
            );
            assert!(!e.contains('\n'), "{e}");
        }
    }

    // --- agent facts ---

    fn attribute(name: &str, t: value::Type) -> Attribute {
        Attribute {
            name: name.into(),
            r#type: t as i32,
            ..Default::default()
        }
    }

    #[test]
    fn from_offer_formats_each_attribute_type() {
        let mut text = attribute("rack", value::Type::Text);
        text.text = Some(Text { value: "r1".into() });
        let scalar = |name: &str, v: f64| {
            let mut a = attribute(name, value::Type::Scalar);
            a.scalar = Some(Scalar { value: v });
            a
        };
        let mut ranges = attribute("ports", value::Type::Ranges);
        ranges.ranges = Some(Ranges {
            range: vec![Range { begin: 7, end: 9 }, Range { begin: 1, end: 5 }],
        });
        let mut set = attribute("disks", value::Type::Set);
        set.set = Some(Set {
            item: vec!["b".into(), "a".into(), "c".into()],
        });
        let mut bad = attribute("bad", value::Type::Text);
        bad.r#type = 42;
        let offer = Offer {
            hostname: "agent1".into(),
            attributes: vec![
                text,
                scalar("gen", 2.0),
                scalar("ratio", 1.5),
                scalar("third", 1.0 / 3.0),
                scalar("round", 1.0005),
                scalar("up", 1.00051),
                scalar("big", 12_345_678.0),
                scalar("neg", -0.25),
                ranges,
                set,
                bad,
                attribute("no-text", value::Type::Text),
                attribute("no-scalar", value::Type::Scalar),
                attribute("no-ranges", value::Type::Ranges),
                attribute("no-set", value::Type::Set),
            ],
            ..Default::default()
        };
        let facts = AgentFacts::from_offer(&offer);
        assert_eq!(
            facts,
            agent(
                "agent1",
                &[
                    ("rack", "r1"),
                    ("gen", "2"),
                    ("ratio", "1.5"),
                    ("third", "0.333"),
                    ("round", "1"),
                    ("up", "1.001"),
                    ("big", "12345678"),
                    ("neg", "-0.25"),
                    ("ports", "[1-5,7-9]"),
                    ("disks", "{a,b,c}"),
                    ("no-text", ""),
                    ("no-scalar", "0"),
                    ("no-ranges", "[]"),
                    ("no-set", "{}"),
                ]
            )
        );
    }

    #[test]
    fn scalars_round_to_three_decimals() {
        assert_eq!(scalar_text(0.0), "0");
        assert_eq!(scalar_text(10.0), "10");
        assert_eq!(scalar_text(0.1), "0.1");
        assert_eq!(scalar_text(2.9999), "3");
        assert_eq!(scalar_text(0.0625), "0.062");
        assert_eq!(scalar_text(f64::NAN), "NaN");
    }

    #[test]
    fn value_reads_hostname_and_the_first_attribute() {
        let a = agent(
            "agent1",
            &[("rack", "r1"), ("rack", "r2"), ("hostname", "x")],
        );
        assert_eq!(a.value("hostname"), Some("agent1"));
        assert_eq!(a.value("@hostname"), Some("agent1"));
        assert_eq!(a.value("rack"), Some("r1"));
        assert_eq!(a.value("zone"), None);
        assert_eq!(a.value("Rack"), None);
    }

    // --- checking ---

    #[test]
    fn no_constraints_allow_anything() {
        let a = agent("agent1", &[]);
        assert_eq!(check(&[], &a, &[&a, &a], &[]), Ok(()));
    }

    #[test]
    fn unique_rejects_a_value_that_has_a_task() {
        let a1 = agent("agent1", &[("rack", "r1")]);
        let a2 = agent("agent2", &[("rack", "r1")]);
        let a3 = agent("agent3", &[("rack", "r2")]);
        let bare = agent("agent4", &[]);
        let c = r#"[["hostname","UNIQUE"]]"#;
        assert!(ok(c, &a1, &[]));
        assert!(ok(c, &a1, &[&a2, &a3]));
        assert_eq!(
            check(&[one(c)], &a1, &[&a2, &a1], &[]),
            Err("hostname:UNIQUE: agent1 already runs a task of it".to_owned())
        );
        assert!(!ok(r#"[["@hostname","UNIQUE"]]"#, &a1, &[&a1]));
        let rack = r#"[["rack","UNIQUE"]]"#;
        assert!(ok(rack, &a3, &[&a1, &bare]));
        assert_eq!(
            check(&[one(rack)], &a2, &[&a1], &[]),
            Err("rack:UNIQUE: agent2's rack r1 already runs a task of it".to_owned())
        );
    }

    #[test]
    fn cluster_needs_the_value() {
        let a = agent("agent1", &[("zone", "a")]);
        let b = agent("agent2", &[("zone", "b")]);
        let c = r#"[["zone","CLUSTER","a"]]"#;
        assert!(ok(c, &a, &[]));
        assert!(ok(c, &a, &[&b]));
        assert_eq!(
            check(&[one(c)], &b, &[], &[]),
            Err("zone:CLUSTER:a: agent2's zone b is not a".to_owned())
        );
        let h = r#"[["hostname","CLUSTER","agent1"]]"#;
        assert!(ok(h, &a, &[]));
        assert_eq!(
            check(&[one(h)], &b, &[], &[]),
            Err("hostname:CLUSTER:agent1: agent2 is not agent1".to_owned())
        );
    }

    #[test]
    fn max_per_counts_tasks_with_the_value() {
        let a1 = agent("agent1", &[("rack", "r1")]);
        let a2 = agent("agent2", &[("rack", "r1")]);
        let a3 = agent("agent3", &[("rack", "r2")]);
        let c = r#"[["rack","MAX_PER","2"]]"#;
        assert!(ok(c, &a1, &[]));
        assert!(ok(c, &a1, &[&a2, &a3, &a3]));
        assert_eq!(
            check(&[one(c)], &a1, &[&a2, &a3, &a1], &[]),
            Err("rack:MAX_PER:2: agent1's rack r1 already has 2 tasks".to_owned())
        );
        let h = r#"[["hostname","MAX_PER","1"]]"#;
        assert!(ok(h, &a1, &[&a2]));
        assert_eq!(
            check(&[one(h)], &a1, &[&a1], &[]),
            Err("hostname:MAX_PER:1: agent1 already has 1 task".to_owned())
        );
    }

    #[test]
    fn like_matches_the_whole_value() {
        let c = r#"[["hostname","LIKE","agent[12]"]]"#;
        assert!(ok(c, &agent("agent1", &[]), &[]));
        assert!(ok(c, &agent("agent2", &[]), &[]));
        assert!(!ok(c, &agent("agent3", &[]), &[]));
        assert!(!ok(c, &agent("agent12", &[]), &[]));
        assert!(!ok(c, &agent("my-agent1", &[]), &[]));
        assert!(!ok(c, &agent("agent1\n", &[]), &[]));
        // Java's matches() takes the alternative that spans the whole value.
        assert!(ok(
            r#"[["hostname","LIKE","a|ab"]]"#,
            &agent("ab", &[]),
            &[]
        ));
        assert_eq!(
            check(&[one(c)], &agent("agent3", &[]), &[], &[]),
            Err("hostname:LIKE:agent[12]: agent3 does not match agent[12]".to_owned())
        );
        let rack = r#"[["rack","LIKE","r-[0-9]+"]]"#;
        assert!(ok(rack, &agent("h", &[("rack", "r-10")]), &[]));
        assert!(!ok(rack, &agent("h", &[("rack", "r-1a")]), &[]));
        let num = r#"[["gen","LIKE","2"]]"#;
        assert!(ok(num, &agent("h", &[("gen", "2")]), &[]));
    }

    #[test]
    fn unlike_rejects_a_whole_match() {
        let c = r#"[["hostname","UNLIKE","agent3"]]"#;
        assert!(ok(c, &agent("agent1", &[]), &[]));
        assert!(ok(c, &agent("agent33", &[]), &[]));
        assert_eq!(
            check(&[one(c)], &agent("agent3", &[]), &[], &[]),
            Err("hostname:UNLIKE:agent3: agent3 matches agent3".to_owned())
        );
        let rack = r#"[["rack","UNLIKE","r[7-9]"]]"#;
        assert!(ok(rack, &agent("h", &[("rack", "r1")]), &[]));
        assert_eq!(
            check(&[one(rack)], &agent("h", &[("rack", "r8")]), &[], &[]),
            Err("rack:UNLIKE:r[7-9]: h's rack r8 matches r[7-9]".to_owned())
        );
    }

    #[test]
    fn a_missing_attribute_fails_all_but_unlike() {
        let bare = agent("agent1", &[("zone", "a")]);
        let other = agent("agent2", &[("rack", "r1")]);
        for c in [
            r#"[["rack","UNIQUE"]]"#,
            r#"[["rack","CLUSTER","r1"]]"#,
            r#"[["rack","GROUP_BY"]]"#,
            r#"[["rack","GROUP_BY","2"]]"#,
            r#"[["rack","MAX_PER","5"]]"#,
            r#"[["rack","LIKE",".*"]]"#,
        ] {
            let c = one(c);
            assert_eq!(
                check(std::slice::from_ref(&c), &bare, &[], &[&other]),
                Err(format!("{}: agent1 has no attribute rack", c.describe()))
            );
        }
        assert!(ok(r#"[["rack","UNLIKE",".*"]]"#, &bare, &[&other]));
    }

    #[test]
    fn group_by_with_a_count_spreads_over_that_many_values_first() {
        let r1 = agent("agent1", &[("rack", "r1")]);
        let r2 = agent("agent2", &[("rack", "r2")]);
        let r3 = agent("agent3", &[("rack", "r3")]);
        let r4 = agent("agent4", &[("rack", "r4")]);
        let c = r#"[["rack","GROUP_BY","3"]]"#;
        assert!(ok(c, &r1, &[]));
        // Only 2 of 3 racks have tasks: a rack with tasks waits for a third.
        assert_eq!(
            check(&[one(c)], &r1, &[&r1, &r2], &[&r1, &r2]),
            Err(
                "rack:GROUP_BY:3: agent1's rack r1 already has 1 task while only 2 of 3 values have tasks"
                    .to_owned()
            )
        );
        assert!(ok(c, &r3, &[&r1, &r2]));
        // All 3 racks have tasks: only the emptiest take more.
        assert!(ok(c, &r1, &[&r1, &r2, &r3]));
        assert!(ok(c, &r3, &[&r1, &r1, &r2, &r2, &r3]));
        assert_eq!(
            check(&[one(c)], &r1, &[&r1, &r1, &r2, &r2, &r3], &[]),
            Err(
                "rack:GROUP_BY:3: agent1's rack r1 already has 2 tasks while another rack has 1"
                    .to_owned()
            )
        );
        // A further rack is always welcome.
        assert!(ok(c, &r4, &[&r1, &r1, &r2, &r2, &r3]));
        // Tasks on agents without the attribute do not count.
        let bare = agent("agent5", &[]);
        assert!(ok(c, &r1, &[&r1, &r2, &r3, &bare]));
    }

    #[test]
    fn group_by_without_a_count_spreads_over_the_known_values() {
        let r1 = agent("agent1", &[("rack", "r1")]);
        let r1b = agent("agent1b", &[("rack", "r1")]);
        let r2 = agent("agent2", &[("rack", "r2")]);
        let r3 = agent("agent3", &[("rack", "r3")]);
        let bare = agent("agent4", &[]);
        let known = [&r1, &r1b, &r2, &r3, &bare];
        let c = [one(r#"[["rack","GROUP_BY"]]"#)];
        assert_eq!(check(&c, &r1, &[], &known), Ok(()));
        assert_eq!(check(&c, &r2, &[&r1], &known), Ok(()));
        assert_eq!(
            check(&c, &r1b, &[&r1, &r2], &known),
            Err(
                "rack:GROUP_BY: agent1b's rack r1 already has 1 task while rack r3 has none"
                    .to_owned()
            )
        );
        assert_eq!(check(&c, &r1b, &[&r1, &r2, &r3], &known), Ok(()));
        assert_eq!(check(&c, &r3, &[&r1, &r2, &r3, &r1b], &known), Ok(()));
        assert_eq!(
            check(&c, &r1, &[&r1, &r2, &r3, &r1b], &known),
            Err(
                "rack:GROUP_BY: agent1's rack r1 already has 2 tasks while another rack has 1"
                    .to_owned()
            )
        );
        // With no agents known, values with tasks are the groups.
        assert_eq!(check(&c, &r1, &[&r1, &r2], &[]), Ok(()));
        assert_eq!(
            check(&c, &r1, &[&r1, &r1, &r2], &[]),
            Err(
                "rack:GROUP_BY: agent1's rack r1 already has 2 tasks while another rack has 1"
                    .to_owned()
            )
        );
    }

    #[test]
    fn group_by_hostname_counts_tasks_per_agent() {
        let a = agent("agent1", &[]);
        let b = agent("agent2", &[]);
        let c = [one(r#"[["hostname","GROUP_BY","2"]]"#)];
        assert_eq!(
            check(&c, &a, &[&a], &[&a, &b]),
            Err("hostname:GROUP_BY:2: agent1 already has 1 task while only 1 of 2 values have tasks".to_owned())
        );
        assert_eq!(check(&c, &b, &[&a], &[]), Ok(()));
        assert_eq!(check(&c, &a, &[&a, &b], &[]), Ok(()));
    }

    #[test]
    fn the_first_failing_constraint_is_reported() {
        let list = parse_constraints(
            r#"[["hostname","LIKE","agent.*"],["rack","MAX_PER","1"],["hostname","UNIQUE"]]"#,
        )
        .unwrap();
        let a1 = agent("agent1", &[("rack", "r1")]);
        let a2 = agent("agent2", &[("rack", "r1")]);
        let a3 = agent("agent3", &[("rack", "r2")]);
        assert_eq!(check(&list, &a3, &[&a1], &[]), Ok(()));
        assert_eq!(
            check(&list, &a1, &[&a2], &[]),
            Err("rack:MAX_PER:1: agent1's rack r1 already has 1 task".to_owned())
        );
        assert_eq!(
            check(&list, &agent("other", &[]), &[], &[]),
            Err("hostname:LIKE:agent.*: other does not match agent.*".to_owned())
        );
    }
}
