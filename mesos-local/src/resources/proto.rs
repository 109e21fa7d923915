//! Conversions between [`Resources`] and the `mesos.v1.Resource` messages
//! of offers and tasks, Mesos' `Resources::validate` rules with its error
//! texts, and the `/state` JSON models of resources and attributes.

use std::collections::BTreeSet;

use mesos_proto::v1::{self, value};
use serde_json::{json, Map, Value};

use super::{from_fixed, to_fixed, Key, Quantity, Ranges, ResourceError, Resources, UNRESERVED};

/// Checks one resource like Mesos' `Resources::validate(Resource)`.
pub fn validate_resource(resource: &v1::Resource) -> Result<(), String> {
    if resource.name.is_empty() {
        return Err("Empty resource name".into());
    }
    let (scalar, ranges, set) = (
        resource.scalar.is_some(),
        resource.ranges.is_some(),
        resource.set.is_some(),
    );
    match value::Type::try_from(resource.r#type) {
        Ok(value::Type::Scalar) => {
            if !scalar || ranges || set {
                return Err("Invalid scalar resource".into());
            }
            let v = resource.scalar.as_ref().map_or(0.0, |s| s.value);
            if v.is_nan() || v.is_infinite() {
                return Err("Invalid scalar resource: value is not finite".into());
            }
            if v < 0.0 {
                return Err("Invalid scalar resource: value < 0".into());
            }
        }
        Ok(value::Type::Ranges) => {
            if scalar || !ranges || set {
                return Err("Invalid ranges resource".into());
            }
            let list = resource
                .ranges
                .as_ref()
                .map(|r| r.range.as_slice())
                .unwrap_or_default();
            for (i, range) in list.iter().enumerate() {
                if range.begin > range.end {
                    return Err("Invalid ranges resource: begin > end".into());
                }
                for other in &list[i + 1..] {
                    let overlaps = (range.begin <= other.begin && other.begin <= range.end)
                        || (other.begin <= range.begin && range.begin <= other.end);
                    if overlaps {
                        return Err("Invalid ranges resource: overlapping ranges".into());
                    }
                }
            }
        }
        Ok(value::Type::Set) => {
            if scalar || ranges || !set {
                return Err("Invalid set resource".into());
            }
            let items = resource
                .set
                .as_ref()
                .map(|s| s.item.as_slice())
                .unwrap_or_default();
            let unique: BTreeSet<&String> = items.iter().collect();
            if unique.len() != items.len() {
                return Err("Invalid set resource: duplicated elements".into());
            }
        }
        _ => return Err("Unsupported resource type".into()),
    }
    Ok(())
}

/// Checks a list of resources: every item valid, one type per name.
pub fn validate(resources: &[v1::Resource]) -> Result<(), String> {
    for resource in resources {
        validate_resource(resource)?;
    }
    Resources::from_protos(resources)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The role a resource message is reserved for (`*` when unreserved):
/// the last refined reservation, else the pre-refinement `role` field.
fn role_of(resource: &v1::Resource) -> String {
    resource
        .reservations
        .last()
        .and_then(|r| r.role.clone())
        .or_else(|| resource.role.clone())
        .unwrap_or_else(|| UNRESERVED.to_string())
}

impl Resources {
    /// Reads resource messages after validating them.
    pub fn from_protos(protos: &[v1::Resource]) -> Result<Resources, ResourceError> {
        let mut resources = Resources::new();
        for resource in protos {
            validate_resource(resource).map_err(ResourceError::Invalid)?;
            let quantity = match value::Type::try_from(resource.r#type) {
                Ok(value::Type::Scalar) => {
                    Quantity::Scalar(to_fixed(resource.scalar.as_ref().map_or(0.0, |s| s.value)))
                }
                Ok(value::Type::Ranges) => Quantity::Ranges(Ranges::from_pairs(
                    resource
                        .ranges
                        .iter()
                        .flat_map(|r| r.range.iter().map(|x| (x.begin, x.end))),
                )),
                _ => Quantity::Set(
                    resource
                        .set
                        .iter()
                        .flat_map(|s| s.item.iter().cloned())
                        .collect(),
                ),
            };
            resources.insert(
                Key {
                    name: resource.name.clone(),
                    role: role_of(resource),
                },
                quantity,
            )?;
        }
        Ok(resources)
    }

    /// The resources as messages; `allocation_role` fills
    /// `allocation_info` as the master does in offers.
    pub fn to_protos(&self, allocation_role: Option<&str>) -> Vec<v1::Resource> {
        self.iter()
            .map(|(key, quantity)| {
                let mut resource = v1::Resource {
                    name: key.name.clone(),
                    role: Some(key.role.clone()),
                    allocation_info: allocation_role.map(|role| v1::resource::AllocationInfo {
                        role: Some(role.to_string()),
                    }),
                    ..Default::default()
                };
                if key.role != UNRESERVED {
                    resource.reservations = vec![v1::resource::ReservationInfo {
                        r#type: Some(v1::resource::reservation_info::Type::Static as i32),
                        role: Some(key.role.clone()),
                        ..Default::default()
                    }];
                }
                match quantity {
                    Quantity::Scalar(v) => {
                        resource.set_type(value::Type::Scalar);
                        resource.scalar = Some(value::Scalar {
                            value: from_fixed(*v),
                        });
                    }
                    Quantity::Ranges(r) => {
                        resource.set_type(value::Type::Ranges);
                        resource.ranges = Some(value::Ranges {
                            range: r
                                .spans()
                                .iter()
                                .map(|&(begin, end)| value::Range { begin, end })
                                .collect(),
                        });
                    }
                    Quantity::Set(s) => {
                        resource.set_type(value::Type::Set);
                        resource.set = Some(value::Set {
                            item: s.iter().cloned().collect(),
                        });
                    }
                }
                resource
            })
            .collect()
    }

    /// The `/state` model: `{"cpus": 4.0, "mem": 4096.0, "disk": 0.0,
    /// "gpus": 0.0, "ports": "[31000-32000]"}`, summed over roles.
    pub fn to_state_json(&self) -> Value {
        let mut model = Map::new();
        for name in ["cpus", "gpus", "mem", "disk"] {
            model.insert(name.into(), json!(self.scalar(name).unwrap_or(0.0)));
        }
        for (key, quantity) in self.iter() {
            let value = match quantity {
                Quantity::Scalar(_) => json!(self.scalar(&key.name).unwrap_or(0.0)),
                Quantity::Ranges(r) => json!(r.to_string()),
                Quantity::Set(s) => {
                    let items: Vec<&str> = s.iter().map(String::as_str).collect();
                    json!(format!("{{{}}}", items.join(", ")))
                }
            };
            model.insert(key.name.clone(), value);
        }
        Value::Object(model)
    }
}

/// The `/state` model of attributes: `{"rack": "r1", "zone": 2.0}`.
pub fn attributes_state_json(attributes: &[v1::Attribute]) -> Value {
    let mut model = Map::new();
    for attribute in attributes {
        let value = match attribute.r#type() {
            value::Type::Scalar => json!(attribute.scalar.as_ref().map_or(0.0, |s| s.value)),
            value::Type::Ranges => {
                let pairs = attribute
                    .ranges
                    .iter()
                    .flat_map(|r| r.range.iter().map(|x| (x.begin, x.end)));
                json!(Ranges::from_pairs(pairs).to_string())
            }
            value::Type::Set => {
                let items = attribute
                    .set
                    .as_ref()
                    .map(|s| s.item.join(","))
                    .unwrap_or_default();
                json!(format!("{{{items}}}"))
            }
            value::Type::Text => json!(attribute
                .text
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default()),
        };
        model.insert(attribute.name.clone(), value);
    }
    Value::Object(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(name: &str, v: f64) -> v1::Resource {
        let mut r = v1::Resource {
            name: name.into(),
            scalar: Some(value::Scalar { value: v }),
            ..Default::default()
        };
        r.set_type(value::Type::Scalar);
        r
    }

    #[test]
    fn protos_round_trip() {
        let res = Resources::parse("cpus:1.5;mem:64;ports:[1-3];cpus(web):1").expect("valid");
        let back = Resources::from_protos(&res.to_protos(Some("*"))).expect("valid protos");
        assert_eq!(back, res);
    }

    #[test]
    fn mesos_validation_texts_are_kept() {
        assert_eq!(
            validate(&[scalar("cpus", -1.0)]),
            Err("Invalid scalar resource: value < 0".into())
        );
        assert_eq!(
            validate(&[scalar("", 1.0)]),
            Err("Empty resource name".into())
        );
        let mut ranges = scalar("ports", 1.0);
        ranges.set_type(value::Type::Ranges);
        assert_eq!(validate(&[ranges]), Err("Invalid ranges resource".into()));
        let mut overlapping = v1::Resource {
            name: "ports".into(),
            ranges: Some(value::Ranges {
                range: vec![
                    value::Range { begin: 1, end: 5 },
                    value::Range { begin: 3, end: 9 },
                ],
            }),
            ..Default::default()
        };
        overlapping.set_type(value::Type::Ranges);
        assert_eq!(
            validate(&[overlapping]),
            Err("Invalid ranges resource: overlapping ranges".into())
        );
        assert!(validate(&[scalar("cpus", 0.1), scalar("mem", 32.0)]).is_ok());
    }

    #[test]
    fn the_state_model_sums_roles_and_prints_ranges() {
        let res = Resources::parse("cpus:1;cpus(web):1;ports:[1-2]").expect("valid");
        let model = res.to_state_json();
        assert_eq!(model["cpus"], json!(2.0));
        assert_eq!(model["mem"], json!(0.0));
        assert_eq!(model["ports"], json!("[1-2]"));
    }

    #[test]
    fn attributes_have_a_flat_state_model() {
        let attrs = super::super::parse_attributes("rack:r1;zone:2").expect("valid");
        assert_eq!(
            attributes_state_json(&attrs),
            json!({"rack": "r1", "zone": 2.0})
        );
    }
}
