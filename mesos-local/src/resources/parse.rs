//! The agent flag syntax of resources and attributes, as Mesos reads
//! `--resources="cpus:4;mem:4096;ports:[31000-32000];disks(ssd):{a,b}"`
//! (or a JSON array of `Resource` messages) and
//! `--attributes="rack:r1;zone:2;ids:[1-3];tags:{a,b}"`.

use std::collections::BTreeSet;

use mesos_proto::v1::{self, value};

use super::{to_fixed, Key, Quantity, Ranges, ResourceError, Resources, UNRESERVED};

/// Why an `--attributes` value could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad attribute '{item}': {reason}")]
pub struct AttributeError {
    /// The offending `name:value` item.
    pub item: String,
    /// What is wrong with it.
    pub reason: String,
}

/// A value in the flag syntax: scalar, ranges, set or text.
#[derive(Debug, Clone, PartialEq)]
enum FlagValue {
    Scalar(f64),
    Ranges(Ranges, Vec<(u64, u64)>),
    Set(Vec<String>),
    Text(String),
}

/// Reads one value: `[a-b, c-d]` ranges, `{x,y}` set, a number, or text.
fn parse_value(text: &str) -> Result<FlagValue, String> {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('[') {
        let inner = inner.strip_suffix(']').ok_or("ranges must end with ']'")?;
        let mut pairs = Vec::new();
        for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (b, e) = part
                .split_once('-')
                .ok_or_else(|| format!("range '{part}' is not 'begin-end'"))?;
            let begin: u64 = b
                .trim()
                .parse()
                .map_err(|_| format!("bad range begin '{b}'"))?;
            let end: u64 = e
                .trim()
                .parse()
                .map_err(|_| format!("bad range end '{e}'"))?;
            if begin > end {
                return Err(format!("range '{part}' has begin > end"));
            }
            pairs.push((begin, end));
        }
        return Ok(FlagValue::Ranges(Ranges::from_pairs(pairs.clone()), pairs));
    }
    if let Some(inner) = text.strip_prefix('{') {
        let inner = inner.strip_suffix('}').ok_or("sets must end with '}'")?;
        let items = inner
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        return Ok(FlagValue::Set(items));
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(FlagValue::Scalar(v)),
        _ => Ok(FlagValue::Text(text.to_string())),
    }
}

impl Resources {
    /// Parses `--resources`: `name(role):value;...` or a JSON array of
    /// Mesos `Resource` messages.
    pub fn parse(text: &str) -> Result<Resources, ResourceError> {
        let trimmed = text.trim();
        if trimmed.starts_with('[') {
            let value: serde_json::Value =
                serde_json::from_str(trimmed).map_err(|e| ResourceError::Syntax {
                    item: trimmed.to_string(),
                    reason: format!("not a JSON array of resources: {e}"),
                })?;
            let items = value.as_array().cloned().unwrap_or_default();
            let mut protos = Vec::with_capacity(items.len());
            for item in items {
                let resource: v1::Resource =
                    mesos_proto::from_json_value(item).map_err(|e| ResourceError::Syntax {
                        item: trimmed.to_string(),
                        reason: crate::api::chain(e),
                    })?;
                protos.push(resource);
            }
            return Resources::from_protos(&protos);
        }
        let mut resources = Resources::new();
        for item in trimmed.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let syntax = |reason: String| ResourceError::Syntax {
                item: item.to_string(),
                reason,
            };
            let (name_role, value) = item
                .split_once(':')
                .ok_or_else(|| syntax("expected 'name:value'".into()))?;
            let (name, role) = match name_role.split_once('(') {
                Some((name, rest)) => {
                    let role = rest
                        .strip_suffix(')')
                        .ok_or_else(|| syntax("role must end with ')'".into()))?;
                    (name.trim(), role.trim())
                }
                None => (name_role.trim(), UNRESERVED),
            };
            if name.is_empty() {
                return Err(syntax("empty resource name".into()));
            }
            let quantity = match parse_value(value).map_err(syntax)? {
                FlagValue::Scalar(v) if v >= 0.0 => Quantity::Scalar(to_fixed(v)),
                FlagValue::Scalar(_) => return Err(syntax("negative scalar".into())),
                FlagValue::Ranges(ranges, _) => Quantity::Ranges(ranges),
                FlagValue::Set(items) => Quantity::Set(items.into_iter().collect::<BTreeSet<_>>()),
                FlagValue::Text(t) => {
                    return Err(syntax(format!("'{t}' is not a number, ranges or set")))
                }
            };
            resources.insert(
                Key {
                    name: name.to_string(),
                    role: role.to_string(),
                },
                quantity,
            )?;
        }
        Ok(resources)
    }
}

/// Parses `--attributes`: `name:value;...` where a value is a number
/// (SCALAR), `[a-b]` (RANGES), `{x,y}` (SET) or anything else (TEXT).
pub fn parse_attributes(text: &str) -> Result<Vec<v1::Attribute>, AttributeError> {
    let mut attributes = Vec::new();
    for item in text.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let error = |reason: String| AttributeError {
            item: item.to_string(),
            reason,
        };
        let (name, value) = item
            .split_once(':')
            .ok_or_else(|| error("expected 'name:value'".into()))?;
        let name = name.trim();
        if name.is_empty() {
            return Err(error("empty attribute name".into()));
        }
        let mut attribute = v1::Attribute {
            name: name.to_string(),
            ..Default::default()
        };
        match parse_value(value).map_err(error)? {
            FlagValue::Scalar(v) => {
                attribute.set_type(value::Type::Scalar);
                attribute.scalar = Some(value::Scalar { value: v });
            }
            FlagValue::Ranges(_, pairs) => {
                attribute.set_type(value::Type::Ranges);
                attribute.ranges = Some(value::Ranges {
                    range: pairs
                        .into_iter()
                        .map(|(begin, end)| value::Range { begin, end })
                        .collect(),
                });
            }
            FlagValue::Set(items) => {
                attribute.set_type(value::Type::Set);
                attribute.set = Some(value::Set { item: items });
            }
            FlagValue::Text(t) => {
                attribute.set_type(value::Type::Text);
                attribute.text = Some(value::Text { value: t });
            }
        }
        attributes.push(attribute);
    }
    Ok(attributes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mesos_flag_syntax_parses() {
        let res =
            Resources::parse("cpus:4; mem:4096;ports:[31000-32000, 33000-33001];disks(ssd):{a,b}")
                .expect("valid");
        assert_eq!(res.cpus(), Some(4.0));
        assert_eq!(res.mem(), Some(4096.0));
        let text = res.to_string();
        assert!(text.contains("ports:[31000-32000, 33000-33001]"), "{text}");
        assert!(text.contains("disks(ssd):{a, b}"), "{text}");
    }

    #[test]
    fn a_json_array_of_resources_parses() {
        let json = r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":2}},
                       {"name":"ports","type":"RANGES","ranges":{"range":[{"begin":1,"end":5}]}}]"#;
        let res = Resources::parse(json).expect("valid JSON resources");
        assert_eq!(res, Resources::parse("cpus:2;ports:[1-5]").expect("valid"));
    }

    #[test]
    fn bad_items_name_the_problem() {
        for bad in [
            "cpus",
            "cpus:abc",
            "ports:[5-1]",
            "cpus(web:1",
            ":1",
            "cpus:-1",
        ] {
            let error = Resources::parse(bad).expect_err(bad);
            assert!(
                matches!(error, ResourceError::Syntax { .. }),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn attribute_values_get_their_types() {
        let attrs = parse_attributes("rack:r1;zone:2;ids:[1-3];tags:{a,b}").expect("valid");
        let types: Vec<_> = attrs
            .iter()
            .map(|a| (a.name.as_str(), a.r#type()))
            .collect();
        assert_eq!(
            types,
            vec![
                ("rack", value::Type::Text),
                ("zone", value::Type::Scalar),
                ("ids", value::Type::Ranges),
                ("tags", value::Type::Set),
            ]
        );
        assert_eq!(attrs[0].text.as_ref().map(|t| t.value.as_str()), Some("r1"));
        assert!(parse_attributes("rack").is_err());
    }
}
