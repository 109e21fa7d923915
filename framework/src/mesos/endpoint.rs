//! Where the scheduler API lives: the URL of `POST /api/v1/scheduler` on a
//! master given as `host:port`, `http://host:port[/prefix]` or
//! `https://...`, and the leader's URL from a 307 `Location` header, which
//! Mesos sends protocol-relative (`//host:port/api/v1/scheduler`).

use super::error::MesosError;

/// The path of the scheduler API on a master.
pub const SCHEDULER_PATH: &str = "/api/v1/scheduler";

/// The scheduler API URL of `master`: `http://` is added to a bare
/// `host:port`, and [`SCHEDULER_PATH`] is appended unless already there.
pub fn scheduler_url(master: &str) -> Result<String, MesosError> {
    let invalid = |reason: &str| MesosError::InvalidMaster {
        master: master.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = master.trim();
    if trimmed.is_empty() {
        return Err(invalid("it is empty"));
    }
    let with_scheme = match trimmed.split_once("://") {
        Some((scheme, _)) if scheme == "http" || scheme == "https" => trimmed.to_string(),
        Some((scheme, _)) => {
            return Err(invalid(&format!("scheme {scheme:?} is not http or https")))
        }
        None => format!("http://{trimmed}"),
    };
    let (scheme, rest) = with_scheme.split_once("://").unwrap_or(("http", ""));
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() {
        return Err(invalid("it has no host"));
    }
    if authority.chars().any(char::is_whitespace) {
        return Err(invalid("the host contains whitespace"));
    }
    let base = format!("{scheme}://{}", rest.trim_end_matches('/'));
    if base.ends_with(SCHEDULER_PATH) {
        Ok(base)
    } else {
        Ok(format!("{base}{SCHEDULER_PATH}"))
    }
}

/// The URL a 307 `Location` points to, relative to the URL that was
/// redirected: protocol-relative (`//host:port/path`, Mesos' form) keeps
/// the scheme, absolute (`http://...`) is taken as is, an absolute path
/// (`/path`) keeps scheme and authority. `None` when it is none of those.
pub fn resolve_location(current: &str, location: &str) -> Option<String> {
    let location = location.trim();
    let (scheme, rest) = current.split_once("://")?;
    if let Some(authority_and_path) = location.strip_prefix("//") {
        let authority = authority_and_path.split('/').next().unwrap_or_default();
        if authority.is_empty() {
            return None;
        }
        return Some(format!("{scheme}://{authority_and_path}"));
    }
    if let Some((target_scheme, target_rest)) = location.split_once("://") {
        let authority = target_rest.split('/').next().unwrap_or_default();
        if (target_scheme == "http" || target_scheme == "https") && !authority.is_empty() {
            return Some(location.to_string());
        }
        return None;
    }
    if location.starts_with('/') {
        let authority = rest.split('/').next().unwrap_or_default();
        return Some(format!("{scheme}://{authority}{location}"));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_host_port_gets_http_and_the_scheduler_path() {
        assert_eq!(
            scheduler_url("10.0.0.1:5050").expect("valid"),
            "http://10.0.0.1:5050/api/v1/scheduler"
        );
        assert_eq!(
            scheduler_url(" master.mesos:5050 ").expect("valid"),
            "http://master.mesos:5050/api/v1/scheduler"
        );
    }

    #[test]
    fn a_url_keeps_its_scheme_and_prefix() {
        let table = [
            ("https://m:5050", "https://m:5050/api/v1/scheduler"),
            ("http://m:5050/", "http://m:5050/api/v1/scheduler"),
            ("http://proxy/mesos/", "http://proxy/mesos/api/v1/scheduler"),
            (
                "http://m:5050/api/v1/scheduler",
                "http://m:5050/api/v1/scheduler",
            ),
        ];
        for (master, url) in table {
            assert_eq!(scheduler_url(master).expect(master), url, "{master}");
        }
    }

    #[test]
    fn unusable_masters_are_invalid() {
        for master in ["", "ftp://m:21", "http://", "http:///x", "a b:5050"] {
            let error = scheduler_url(master).expect_err(master);
            assert!(
                matches!(error, MesosError::InvalidMaster { .. }),
                "{master}: {error:?}"
            );
            assert!(!error.is_retryable());
        }
    }

    #[test]
    fn a_protocol_relative_location_keeps_the_scheme() {
        assert_eq!(
            resolve_location(
                "http://10.0.0.1:5050/api/v1/scheduler",
                "//10.0.0.2:5050/api/v1/scheduler"
            )
            .as_deref(),
            Some("http://10.0.0.2:5050/api/v1/scheduler")
        );
        assert_eq!(
            resolve_location(
                "https://a:5050/api/v1/scheduler",
                "//b:5050/api/v1/scheduler"
            )
            .as_deref(),
            Some("https://b:5050/api/v1/scheduler")
        );
    }

    #[test]
    fn absolute_and_path_locations_resolve() {
        assert_eq!(
            resolve_location("http://a:1/api/v1/scheduler", "http://b:2/api/v1/scheduler")
                .as_deref(),
            Some("http://b:2/api/v1/scheduler")
        );
        assert_eq!(
            resolve_location("http://a:1/api/v1/scheduler", "/master/api/v1/scheduler").as_deref(),
            Some("http://a:1/master/api/v1/scheduler")
        );
    }

    #[test]
    fn unusable_locations_are_none() {
        for location in ["", "//", "api/v1/scheduler", "ftp://b:2/x", "http:///x"] {
            assert_eq!(
                resolve_location("http://a:1/api/v1/scheduler", location),
                None,
                "{location:?}"
            );
        }
    }
}
